"""The shop's data: catalogue, customers, orders, and the records of the work the task queues did."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
PRICE_MAX_DIGITS = 10
MONEY_MAX_DIGITS = 14


class Product(models.Model):
    """A catalogue entry; ``sku`` is the key CSV imports upsert on."""

    sku = models.CharField(max_length=SKU_MAX_LENGTH, unique=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    stock = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=models.Q(price__gte=0), name="product_price_non_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Customer(models.Model):
    """Someone who orders; invoices go to ``email``."""

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    email = models.EmailField(unique=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Order(models.Model):
    """An order with its lines; ``total`` is the sum of the lines, stored when the order is placed."""

    class Status(models.TextChoices):
        NEW = "new", "new"
        INVOICED = "invoiced", "invoiced"
        CANCELLED = "cancelled", "cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    total = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2, default=Decimal("0.00"))
    invoiced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Order #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("shop:order_detail", args=[self.pk])


class OrderLine(models.Model):
    """One product in an order, at the price of the day."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=PRICE_MAX_DIGITS, decimal_places=2)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [models.UniqueConstraint(fields=["order", "product"], name="orderline_unique_product")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product.sku}"

    @property
    def amount(self) -> Decimal:
        """Quantity times unit price."""
        return self.unit_price * self.quantity


class InvoiceEmail(models.Model):
    """The invoice that was sent for an order: at most one per order, which makes sending idempotent."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="invoice_email")
    recipient = models.EmailField()
    subject = models.CharField(max_length=255)
    total = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)
    message_id = models.CharField(max_length=255, unique=True)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"Invoice for order #{self.order_id} to {self.recipient}"


class ProductImport(models.Model):
    """An uploaded product CSV and the outcome of importing it."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SUCCEEDED = "succeeded", "succeeded"
        REJECTED = "rejected", "rejected"
        FAILED = "failed", "failed"

    file = models.FileField(upload_to="imports/%Y/%m/%d/")
    original_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created = models.PositiveIntegerField(null=True, blank=True)
    updated = models.PositiveIntegerField(null=True, blank=True)
    #: ``[{"row": int | None, "column": str | None, "message": str}, ...]`` (capped; ``error_count`` is the total).
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    uploaded_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.status})"


class SalesReport(models.Model):
    """A generated sales report for an inclusive period; regenerating a period updates its row."""

    start = models.DateField()
    end = models.DateField()
    json_path = models.CharField(max_length=255, help_text="relative to MEDIA_ROOT")
    csv_path = models.CharField(max_length=255, help_text="relative to MEDIA_ROOT")
    json_sha256 = models.CharField(max_length=64)
    csv_sha256 = models.CharField(max_length=64)
    orders = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2, default=Decimal("0.00"))
    generated_at = models.DateTimeField()

    class Meta:
        ordering = ["-generated_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["start", "end"], name="salesreport_unique_period"),
            models.CheckConstraint(condition=models.Q(start__lte=models.F("end")), name="salesreport_start_le_end"),
        ]

    def __str__(self) -> str:
        return f"Sales {self.start}…{self.end}"


class TaskRun(models.Model):
    """A task the shop's web pages enqueued, updated by :func:`shop.tracking.tracked` via its ``run:<pk>`` probe."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    task_name = models.CharField(max_length=100)
    backend = models.CharField(max_length=32)
    task_id = models.CharField(max_length=255, blank=True)
    probe = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    args_summary = models.CharField(max_length=255, blank=True)
    enqueued_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-enqueued_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk} ({self.state})"

    @property
    def wait_seconds(self) -> float | None:
        """Enqueued → (latest attempt) started."""
        if self.started_at is None:
            return None
        return (self.started_at - self.enqueued_at).total_seconds()

    @property
    def run_seconds(self) -> float | None:
        """(Latest attempt) started → finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
