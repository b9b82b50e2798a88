"""URLs of the django-q2 project: the shop at "/" and Django's admin (with django-q2's task pages) at "/admin/"."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]
