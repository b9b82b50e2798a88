"""The shop's pages; each project includes them at "/" (``path("", include("shop.urls"))``)."""

from django.urls import path

from shop import views

app_name = "shop"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("imports/", views.import_create, name="import_create"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("reports/", views.report_list, name="report_list"),
    path("reports/<int:pk>/<str:fmt>/", views.report_download, name="report_download"),
    path("tasks/", views.task_runs, name="task_runs"),
]
