"""Deterministic demo data and helpers that use the shop without the web pages (the harness and tests use them)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction

from shop.models import Customer, Order, OrderLine, Product, ProductImport

DEMO_SEED = 20241125
DEMO_PRODUCTS = 50
DEMO_CUSTOMERS = 20
DEMO_ORDERS = 200
#: Demo orders fall in this fixed range, so reports over it are reproducible.
DEMO_START = datetime(2024, 1, 1, tzinfo=UTC)
DEMO_DAYS = 90

_ADJECTIVES = ["Red", "Blue", "Green", "Small", "Large", "Classic", "Modern", "Solid", "Light", "Heavy"]
_NOUNS = ["Mug", "Lamp", "Chair", "Notebook", "Pen", "Bottle", "Backpack", "Towel", "Clock", "Plant"]
_FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Guido", "Donald", "Frances"]
_LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Rossum", "Knuth", "Allen"]


class OrderError(ValueError):
    """An order that cannot be placed (unknown customer or SKU, bad quantity, not enough stock)."""


def _price(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(100, 20000)) / 100


def make_products_csv(n: int, seed: int = 0, *, sku_prefix: str = "SKU") -> bytes:
    """A valid product CSV of ``n`` rows (UTF-8, header ``sku,name,price,stock``), the same for the same seed."""
    rng = random.Random(seed)
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["sku", "name", "price", "stock"])
    for i in range(n):
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {i}"
        w.writerow([f"{sku_prefix}-{i:06d}", name, _price(rng), rng.randint(0, 500)])
    return out.getvalue().encode()


def create_import(csv_bytes: bytes, filename: str = "products.csv") -> ProductImport:
    """Store an uploaded CSV under ``media/imports/`` as a pending ``ProductImport`` (not yet imported)."""
    imp = ProductImport(original_name=filename)
    imp.file.save(filename, ContentFile(csv_bytes), save=False)
    imp.save()
    return imp


@transaction.atomic
def place_order(customer_email: str, items: Mapping[str, int], *, created_at: datetime | None = None) -> Order:
    """Create an order for ``{sku: quantity}`` at today's prices, taking the stock; raises :class:`OrderError`."""
    if not items:
        raise OrderError("an order needs at least one product")
    try:
        customer = Customer.objects.get(email__iexact=customer_email.strip())
    except Customer.DoesNotExist:
        raise OrderError(f"no customer with email {customer_email!r}") from None
    products = Product.objects.select_for_update().in_bulk(list(items), field_name="sku")
    missing = sorted(set(items) - set(products))
    if missing:
        raise OrderError(f"unknown SKU(s): {', '.join(missing)}")
    for sku, quantity in items.items():
        if quantity < 1:
            raise OrderError(f"quantity of {sku} must be at least 1")
        if products[sku].stock < quantity:
            raise OrderError(f"only {products[sku].stock} of {sku} in stock")
    order = Order(customer=customer)
    if created_at is not None:
        order.created_at = created_at
    order.save()
    lines = [
        OrderLine(order=order, product=products[sku], quantity=qty, unit_price=products[sku].price)
        for sku, qty in sorted(items.items())
    ]
    OrderLine.objects.bulk_create(lines)
    for sku, qty in items.items():
        products[sku].stock -= qty
    Product.objects.bulk_update(products.values(), ["stock"])
    order.total = sum((line.amount for line in lines), Decimal("0.00"))
    order.save(update_fields=["total"])
    return order


@transaction.atomic
def seed_demo(seed: int = DEMO_SEED) -> dict[str, int]:
    """Create the demo catalogue, customers and orders once; running it again changes nothing.

    Orders are created only when the database has none, so a rerun (or a run after real orders) is harmless.
    """
    rng = random.Random(seed)
    for i in range(DEMO_PRODUCTS):
        Product.objects.get_or_create(
            sku=f"DEMO-{i:03d}",
            defaults={"name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}", "price": _price(rng), "stock": 10_000},
        )
    for i in range(DEMO_CUSTOMERS):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i * 3 + i // len(_FIRST)) % len(_LAST)]
        Customer.objects.get_or_create(
            email=f"{first.lower()}.{last.lower()}{i}@example.com", defaults={"name": f"{first} {last}"}
        )
    created_orders = 0
    if not Order.objects.exists():
        skus = [f"DEMO-{i:03d}" for i in range(DEMO_PRODUCTS)]
        emails = list(Customer.objects.order_by("email").values_list("email", flat=True))
        for _ in range(DEMO_ORDERS):
            items = {sku: rng.randint(1, 5) for sku in rng.sample(skus, rng.randint(1, 4))}
            when = DEMO_START + timedelta(seconds=rng.randrange(DEMO_DAYS * 86400))
            order = place_order(rng.choice(emails), items, created_at=when)
            if rng.random() < 0.05:
                Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED)
            created_orders += 1
    return {
        "products": Product.objects.count(),
        "customers": Customer.objects.count(),
        "orders_created": created_orders,
    }
