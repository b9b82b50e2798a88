"""The pages, with the inline queue: forms, validation, CSRF, and the tasks they trigger really running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from shop import demo
from shop.models import InvoiceEmail, Order, Product, ProductImport, SalesReport, TaskRun

from .conftest import CollectingHandler

pytestmark = pytest.mark.django_db


def broken_enqueue(task_name: str, *args: object, **kwargs: object) -> str:
    """A backend whose broker is down."""
    raise ConnectionRefusedError(111, "Connection refused")


def _order_post(customer_pk: int, items: list[tuple[str, str]]) -> dict[str, str]:
    data = {"customer": str(customer_pk), "lines-TOTAL_FORMS": "4", "lines-INITIAL_FORMS": "0"}
    for i, (sku, qty) in enumerate(items):
        data[f"lines-{i}-sku"] = sku
        data[f"lines-{i}-quantity"] = qty
    return data


@pytest.mark.unit
def test_pages_render(client: Client, seeded: dict[str, int]) -> None:
    for name in ["catalogue", "order_create", "order_list", "import_create", "report_list", "task_runs"]:
        response = client.get(reverse(f"shop:{name}"))
        assert response.status_code == 200, name
        assert b"Demo shop" in response.content
    assert b"DEMO-000" in client.get(reverse("shop:catalogue"), {"q": "demo-000"}).content
    order = Order.objects.first()
    assert client.get(order.get_absolute_url()).status_code == 200


def test_order_form_sends_invoice(client: Client, smtp_sink: CollectingHandler, customer, products) -> None:  # type: ignore[no-untyped-def]
    response = client.post(reverse("shop:order_create"), _order_post(customer.pk, [("MUG-1", "2"), ("LAMP-2", "1")]))
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    assert [m["To"] for m in smtp_sink.messages] == ["ada@example.com"]
    assert InvoiceEmail.objects.filter(order=order).exists()
    run = TaskRun.objects.get()
    assert (run.task_name, run.backend, run.state, run.attempts, run.probe) == (
        "send_invoice_email",
        "inline",
        "succeeded",
        1,
        f"run:{run.pk}",
    )
    assert run.task_id
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Sent" in page and "64.99 EUR" in page
    assert "send_invoice_email" in client.get(reverse("shop:task_runs")).content.decode()
    assert Product.objects.get(sku="MUG-1").stock == 98


@pytest.mark.unit
@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "Order at least one product."),
        ([("NOPE", "1")], "No product with SKU NOPE."),
        ([("MUG-1", "0")], "greater than or equal to 1"),
        ([("MUG-1", "1"), ("MUG-1", "2")], "appears twice"),
        ([("LAMP-2", "11")], "only 10 of LAMP-2 in stock"),
    ],
)
def test_invalid_order_shows_errors(client: Client, customer, products, items, message) -> None:  # type: ignore[no-untyped-def]
    response = client.post(reverse("shop:order_create"), _order_post(customer.pk, items))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Order.objects.exists() and not TaskRun.objects.exists()


@pytest.mark.unit
def test_csrf_is_enforced(customer, products) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("shop:order_create"), _order_post(customer.pk, [("MUG-1", "1")]))
    assert response.status_code == 403
    assert not Order.objects.exists()


@pytest.mark.unit
def test_broker_down_is_a_message_not_a_500(client: Client, settings, customer, products) -> None:  # type: ignore[no-untyped-def]
    settings.SHOP_QUEUE = "tests.shop.test_views.broken_enqueue"
    response = client.post(reverse("shop:order_create"), _order_post(customer.pk, [("MUG-1", "1")]), follow=True)
    assert response.status_code == 200
    assert "task queue is unavailable" in response.content.decode()
    run = TaskRun.objects.get()
    assert run.state == "failed" and "ConnectionRefusedError" in run.error


@pytest.mark.unit
def test_csv_upload_imports_products(client: Client) -> None:
    upload = SimpleUploadedFile("p.csv", demo.make_products_csv(30, seed=5), content_type="text/csv")
    response = client.post(reverse("shop:import_create"), {"file": upload}, follow=True)
    assert response.status_code == 200
    assert Product.objects.count() == 30
    imp = ProductImport.objects.get()
    assert (imp.status, imp.created, imp.original_name) == ("succeeded", 30, "p.csv")
    assert "30 products created" in response.content.decode()


@pytest.mark.unit
def test_rejected_csv_shows_row_errors(client: Client) -> None:
    upload = SimpleUploadedFile("bad.csv", b"sku,name,price,stock\nA,Apple,1.999,1\n", content_type="text/csv")
    page = client.post(reverse("shop:import_create"), {"file": upload}, follow=True).content.decode()
    assert "rejected" in page and "at most 2 decimal places" in page
    assert not Product.objects.exists()
    assert TaskRun.objects.get().state == "failed"


@pytest.mark.unit
def test_upload_form_validation(client: Client) -> None:
    response = client.post(reverse("shop:import_create"), {"file": SimpleUploadedFile("p.txt", b"x")})
    assert response.status_code == 200 and "not allowed" in response.content.decode()
    assert not ProductImport.objects.exists()


@pytest.mark.unit
def test_report_request_writes_file(client: Client, seeded: dict[str, int]) -> None:
    response = client.post(reverse("shop:report_list"), {"start": "2024-01-01", "end": "2024-01-31"}, follow=True)
    assert response.status_code == 200
    report = SalesReport.objects.get()
    assert (Path(settings.MEDIA_ROOT) / report.json_path).is_file()
    download = client.get(reverse("shop:report_download", args=[report.pk, "json"]))
    assert download.status_code == 200
    assert json.loads(b"".join(download.streaming_content))["period"]["end"] == "2024-01-31"
    assert client.get(reverse("shop:report_download", args=[report.pk, "pdf"])).status_code == 404


@pytest.mark.unit
def test_report_form_validation(client: Client) -> None:
    response = client.post(reverse("shop:report_list"), {"start": "2024-02-01", "end": "2024-01-01"})
    assert "The end must not be before the start." in response.content.decode()
    assert not TaskRun.objects.exists()
