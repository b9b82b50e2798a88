"""URLs of the RQ project: the shop at "/", Django's admin at "/admin/" and django-rq's queue pages at "/django-rq/"."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("", include("shop.urls")),
]
