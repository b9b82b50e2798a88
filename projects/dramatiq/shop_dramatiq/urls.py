"""URLs of the Dramatiq project: the shop at "/" and Django's admin (with django_dramatiq's task pages) at "/admin/"."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]
