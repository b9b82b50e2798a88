"""URLs of the tasks_huey project: the shop at "/" and Django's admin at "/admin/" (Huey has no pages here)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]
