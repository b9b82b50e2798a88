"""build_sales_report: values checked against hand computation, deterministic bytes, the SalesReport record."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from shop import demo, jobs
from shop.models import Customer, Order, Product, SalesReport

pytestmark = [pytest.mark.django_db, pytest.mark.unit]


@pytest.fixture
def small_shop(db: None) -> None:
    Product.objects.create(sku="A", name="Apple", price="1.10", stock=100)
    Product.objects.create(sku="B", name="Pear", price="2.00", stock=100)
    Customer.objects.create(name="Ann", email="ann@example.com")
    Customer.objects.create(name="Bob", email="bob@example.com")
    demo.place_order("ann@example.com", {"A": 3}, created_at=datetime(2024, 5, 1, 9, tzinfo=UTC))  # 3.30
    demo.place_order("bob@example.com", {"A": 1, "B": 2}, created_at=datetime(2024, 5, 1, 23, 59, tzinfo=UTC))  # 5.10
    demo.place_order("ann@example.com", {"B": 1}, created_at=datetime(2024, 5, 3, 0, 0, tzinfo=UTC))  # 2.00
    cancelled = demo.place_order("bob@example.com", {"B": 5}, created_at=datetime(2024, 5, 2, tzinfo=UTC))
    Order.objects.filter(pk=cancelled.pk).update(status=Order.Status.CANCELLED)
    demo.place_order("bob@example.com", {"A": 9}, created_at=datetime(2024, 5, 4, 0, 0, tzinfo=UTC))  # outside


def test_report_values(small_shop: None) -> None:
    result = jobs.build_sales_report("2024-05-01", "2024-05-03")
    data = json.loads((Path(settings.MEDIA_ROOT) / result["json_path"]).read_text())
    assert result["json_path"] == "reports/sales-2024-05-01-2024-05-03.json"
    assert data["period"] == {"start": "2024-05-01", "end": "2024-05-03"}
    assert data["totals"] == {"orders": 3, "quantity": 7, "revenue": "10.40"}
    assert data["products"] == [
        {"sku": "B", "name": "Pear", "quantity": 3, "revenue": "6.00"},
        {"sku": "A", "name": "Apple", "quantity": 4, "revenue": "4.40"},
    ]
    assert data["days"] == [
        {"day": "2024-05-01", "orders": 2, "revenue": "8.40"},
        {"day": "2024-05-03", "orders": 1, "revenue": "2.00"},
    ]
    assert data["top_customers"] == [
        {"email": "ann@example.com", "name": "Ann", "orders": 2, "revenue": "5.30"},
        {"email": "bob@example.com", "name": "Bob", "orders": 1, "revenue": "5.10"},
    ]
    csv_text = (Path(settings.MEDIA_ROOT) / result["csv_path"]).read_text()
    assert csv_text.splitlines()[0] == "section,key,name,count,revenue"
    assert "product,B,Pear,3,6.00" in csv_text and "total,2024-05-01..2024-05-03,,3,10.40" in csv_text
    report = SalesReport.objects.get()
    assert (str(report.start), str(report.end), report.orders, str(report.revenue)) == (
        "2024-05-01",
        "2024-05-03",
        3,
        "10.40",
    )
    json_bytes = (Path(settings.MEDIA_ROOT) / report.json_path).read_bytes()
    assert report.json_sha256 == hashlib.sha256(json_bytes).hexdigest() == result["sha256"]


def test_same_data_same_bytes(seeded: dict[str, int]) -> None:
    first = jobs.build_sales_report("2024-01-01", "2024-03-31")
    media = Path(settings.MEDIA_ROOT)
    json1, csv1 = (media / first["json_path"]).read_bytes(), (media / first["csv_path"]).read_bytes()
    second = jobs.build_sales_report("2024-01-01", "2024-03-31")
    assert (media / second["json_path"]).read_bytes() == json1
    assert (media / second["csv_path"]).read_bytes() == csv1
    assert SalesReport.objects.count() == 1  # the period's row was updated, not duplicated
    data = json.loads(json1)
    assert len(data["top_customers"]) == 10
    assert data["totals"]["orders"] == Order.objects.exclude(status=Order.Status.CANCELLED).count()


def test_demo_data_is_deterministic(seeded: dict[str, int]) -> None:
    """Reseeding an empty database gives the same report bytes: demo data and report both deterministic."""
    digest = jobs.build_sales_report("2024-01-01", "2024-03-31")["sha256"]
    Order.objects.all().delete()
    Product.objects.all().delete()
    Customer.objects.all().delete()
    SalesReport.objects.all().delete()
    assert demo.seed_demo()["orders_created"] == demo.DEMO_ORDERS
    assert jobs.build_sales_report("2024-01-01", "2024-03-31")["sha256"] == digest


def test_empty_period_and_bad_period(db: None) -> None:
    result = jobs.build_sales_report("2030-01-01", "2030-01-01")
    data = json.loads((Path(settings.MEDIA_ROOT) / result["json_path"]).read_text())
    assert data["totals"] == {"orders": 0, "quantity": 0, "revenue": "0.00"}
    with pytest.raises(ValueError):
        jobs.build_sales_report("2024-02-01", "2024-01-01")
    with pytest.raises(ValueError):
        jobs.build_sales_report("yesterday", "2024-01-01")
