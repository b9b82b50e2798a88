"""send_invoice_email over a real SMTP server: content, idempotency, SMTP down."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller

from shop import demo, jobs
from shop.models import Customer, InvoiceEmail, Order, Product

from .conftest import SMTP_BACKEND, CollectingHandler, free_port

pytestmark = pytest.mark.django_db


def _order(customer, products) -> Order:  # type: ignore[no-untyped-def]
    return demo.place_order(customer.email, {"MUG-1": 2, "LAMP-2": 1})


def test_invoice_content(smtp_sink: CollectingHandler, customer, products) -> None:  # type: ignore[no-untyped-def]
    order = _order(customer, products)
    assert order.total == Decimal("64.99")
    result = jobs.send_invoice_email(order.pk)
    assert result["sent"] is True
    [message] = smtp_sink.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"Invoice for order #{order.pk}: 64.99 EUR"
    assert message["Message-ID"].strip() == result["message_id"]  # a long header is folded
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Ada Lovelace" in body
        assert "64.99 EUR" in body
        assert "MUG-1" in body and "LAMP-2" in body
        assert "25.00 EUR" in body  # 2 x 12.50
    assert "<table" in html
    record = InvoiceEmail.objects.get(order=order)
    assert (record.recipient, record.subject, record.total) == ("ada@example.com", message["Subject"], order.total)
    assert record.message_id == result["message_id"]
    order.refresh_from_db()
    assert order.status == Order.Status.INVOICED and order.invoiced_at == record.sent_at


def test_delivered_twice_sends_once(smtp_sink: CollectingHandler, customer, products) -> None:  # type: ignore[no-untyped-def]
    order = _order(customer, products)
    first = jobs.send_invoice_email(order.pk)
    second = jobs.send_invoice_email(order.pk)
    assert (first["sent"], second["sent"]) == (True, False)
    assert second["message_id"] == first["message_id"]
    assert len(smtp_sink.messages) == 1
    assert InvoiceEmail.objects.filter(order=order).count() == 1


@pytest.mark.unit
def test_smtp_down_raises_and_records_nothing(smtp_down: int, customer, products) -> None:  # type: ignore[no-untyped-def]
    order = _order(customer, products)
    with pytest.raises(jobs.RETRYABLE_EMAIL_ERRORS):
        jobs.send_invoice_email(order.pk)
    assert not InvoiceEmail.objects.exists()
    order.refresh_from_db()
    assert order.invoiced_at is None and order.status == Order.Status.NEW


def test_smtp_back_after_outage_sends(settings, customer, products) -> None:  # type: ignore[no-untyped-def]
    """A retry after the outage succeeds: the failed attempt left nothing that blocks it."""
    order = _order(customer, products)
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_PORT = free_port()
    with pytest.raises(OSError):
        jobs.send_invoice_email(order.pk)
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    try:
        assert jobs.send_invoice_email(order.pk)["sent"] is True
    finally:
        controller.stop()
    assert len(handler.messages) == 1


def test_unknown_order_raises(smtp_sink: CollectingHandler) -> None:
    with pytest.raises(Order.DoesNotExist):
        jobs.send_invoice_email(999_999)
    assert smtp_sink.messages == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_send_once(smtp_sink: CollectingHandler) -> None:
    """Two workers handling the same message at the same time: one email, one record."""
    from django.db import connection

    Customer.objects.create(name="Ann", email="ann@example.com")
    Product.objects.create(sku="A", name="Apple", price="1.00", stock=10)
    order = demo.place_order("ann@example.com", {"A": 1})
    barrier = threading.Barrier(4)
    results: list[dict[str, object]] = []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(jobs.send_invoice_email(order.pk))
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["sent"] for r in results) == [False, False, False, True]
    assert len(smtp_sink.messages) == 1
    assert InvoiceEmail.objects.count() == 1
