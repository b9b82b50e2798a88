"""URLs of the django.tasks + RQ project: the shop, Django's admin at "/admin/", django-rq's pages at "/django-rq/"."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("", include("shop.urls")),
]
