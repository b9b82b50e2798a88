"""URLs of the tasks_db project: the shop at "/" and Django's admin (with django-tasks-db's Task Result pages)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]
