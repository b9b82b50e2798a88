"""URLs of the test settings, laid out as each backend project lays them out: the shop at "/", admin at /admin/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]
