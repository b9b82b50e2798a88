"""Django admin for every shop model."""

from django.contrib import admin

from shop.models import Customer, InvoiceEmail, Order, OrderLine, Product, ProductImport, SalesReport, TaskRun


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "stock"]
    search_fields = ["sku", "name"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email"]
    search_fields = ["name", "email"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["pk", "customer", "created_at", "status", "total", "invoiced_at"]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    search_fields = ["customer__email", "customer__name"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    inlines = [OrderLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "product", "quantity", "unit_price"]
    raw_id_fields = ["order", "product"]


@admin.register(InvoiceEmail)
class InvoiceEmailAdmin(admin.ModelAdmin):
    list_display = ["order", "recipient", "subject", "total", "sent_at"]
    search_fields = ["recipient", "message_id"]
    raw_id_fields = ["order"]


@admin.register(ProductImport)
class ProductImportAdmin(admin.ModelAdmin):
    list_display = ["pk", "original_name", "status", "created", "updated", "error_count", "uploaded_at", "finished_at"]
    list_filter = ["status"]


@admin.register(SalesReport)
class SalesReportAdmin(admin.ModelAdmin):
    list_display = ["start", "end", "orders", "revenue", "generated_at", "json_sha256"]


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "task_name", "backend", "state", "attempts", "enqueued_at", "started_at", "finished_at"]
    list_filter = ["state", "backend", "task_name"]
    search_fields = ["task_id", "probe"]
