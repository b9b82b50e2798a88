"""Arguments for benchmark tasks: the rows a shop task needs must exist before it is enqueued.

Runs inside a backend's Django environment (called by ``bench.producer``). Each invoice needs an order that was
never invoiced (the task is idempotent: a second invoice for the same order is a no-op, not a measurement), each
import needs a stored CSV, each report its own period (so that concurrent reports do not write the same file).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from decimal import Decimal
from typing import Any

#: First day of the report periods the harness asks for; ``shop.demo`` seeds orders around it.
REPORT_BASE = dt.date(2024, 1, 1)


def invoice_orders(count: int, seed: int) -> list[list[Any]]:
    from django.db import transaction

    from shop.models import Customer, Order, OrderLine, Product

    rng = random.Random(seed)
    customers = list(Customer.objects.values_list("pk", flat=True))
    products = list(Product.objects.values_list("pk", "price"))
    if not customers or not products:
        raise RuntimeError("no demo data: run the backend's `manage.py seed_demo` first")
    with transaction.atomic():
        orders = Order.objects.bulk_create(Order(customer_id=rng.choice(customers)) for _ in range(count))
        lines: list[OrderLine] = []
        for order in orders:
            total = Decimal("0.00")
            for product_pk, price in rng.sample(products, k=min(3, len(products))):
                quantity = rng.randint(1, 4)
                lines.append(OrderLine(order=order, product_id=product_pk, quantity=quantity, unit_price=price))
                total += price * quantity
            order.total = total
        OrderLine.objects.bulk_create(lines)
        Order.objects.bulk_update(orders, ["total"])
    return [[order.pk] for order in orders]


def products_csv(rows: int, prefix: str, seed: int) -> bytes:
    """A valid product CSV of ``rows`` distinct SKUs."""
    rng = random.Random(seed)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["sku", "name", "price", "stock"])
    for j in range(rows):
        w.writerow(
            [f"{prefix}-{j:05d}", f"Bench product {prefix} {j}", f"{rng.randint(100, 99999) / 100:.2f}", j % 500]
        )
    return out.getvalue().encode("utf-8")


def _imports(count: int, rows: int, seed: int) -> list[list[Any]]:
    from shop import demo

    return [
        [demo.create_import(products_csv(rows, f"B{seed}-{i}", seed + i), f"bench-{seed}-{i}.csv").pk]
        for i in range(count)
    ]


def _report_periods(count: int) -> list[list[Any]]:
    periods = []
    for i in range(count):
        start = REPORT_BASE + dt.timedelta(days=i % 300)
        end = start + dt.timedelta(days=30 + i // 300)  # distinct (start, end) for every task
        periods.append([start.isoformat(), end.isoformat()])
    return periods


def task_arguments(task: str, count: int, *, import_rows: int = 200, seed: int = 0) -> list[list[Any]]:
    """Positional arguments for ``count`` enqueues of ``task``."""
    if task in ("noop",):
        return [[] for _ in range(count)]
    if task == "send_invoice_email":
        return invoice_orders(count, seed)
    if task == "import_products":
        return _imports(count, import_rows, seed)
    if task == "build_sales_report":
        return _report_periods(count)
    raise ValueError(f"no benchmark arguments for task {task!r}")


def sample_arguments(task: str, count: int) -> list[list[Any]]:
    """Arguments of the right shape for enqueue-only measurements: one existing row reused for every call."""
    if task == "noop":
        return [[] for _ in range(count)]  # no Django needed (the Redis floor has none)
    from shop.models import Order, ProductImport

    if task == "send_invoice_email":
        order = Order.objects.order_by("pk").first() or Order(pk=1)
        return [[order.pk] for _ in range(count)]
    if task == "import_products":
        existing = ProductImport.objects.order_by("pk").first()
        pk = existing.pk if existing else _imports(1, 10, 0)[0][0]
        return [[pk] for _ in range(count)]
    return task_arguments(task, count)
