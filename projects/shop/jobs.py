"""The task bodies, written once as plain functions; each backend project only wraps them (see ARCHITECTURE.md).

No queue library is imported here. Each body is safe to run twice for the same arguments (queues deliver at least
once): the invoice is recorded once per order, imports and reports reach the same end state.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.utils import timezone

from shop.models import (
    MONEY_MAX_DIGITS,
    NAME_MAX_LENGTH,
    PRICE_MAX_DIGITS,
    SKU_MAX_LENGTH,
    InvoiceEmail,
    Order,
    OrderLine,
    Product,
    ProductImport,
    SalesReport,
)

logger = logging.getLogger(__name__)

#: The shop's retry policy (ARCHITECTURE.md): up to 3 retries, 1 s apart.
MAX_RETRIES = 3
RETRY_DELAY_S = 1.0
#: What ``send_invoice_email`` retries on: SMTP and connection errors (``smtplib.SMTPException`` is an ``OSError``).
RETRYABLE_EMAIL_ERRORS: tuple[type[BaseException], ...] = (OSError,)

MESSAGE_ID_DOMAIN = "shop.example.com"


class ImportRejected(Exception):
    """The CSV file was malformed; the row errors are stored on the ``ProductImport`` and nothing was written."""

    def __init__(self, import_id: int, errors: Sequence[dict[str, Any]], error_count: int) -> None:
        self.import_id = import_id
        self.errors = list(errors)
        self.error_count = error_count
        first = errors[0]["message"] if errors else "no detail"
        super().__init__(f"import {import_id} rejected: {error_count} error(s), first: {first}")


class FlakyError(Exception):
    """Raised by :func:`flaky` while its attempt number is within ``fail_times``."""


# --------------------------------------------------------------------------------------------------- invoice


def _invoice_subject(order: Order) -> str:
    return render_to_string("shop/email/invoice_subject.txt", {"order": order}).strip().replace("\n", " ")


def send_invoice_email(order_id: int) -> dict[str, Any]:
    """Render and send the invoice of an order over SMTP, once; mark the order invoiced.

    The order row is locked (``select_for_update``; on SQLite the IMMEDIATE transaction serialises writers) and the
    ``InvoiceEmail`` row is checked inside the same transaction, so a task delivered twice sends one email. The
    email is sent before the transaction commits: if sending fails, the exception propagates (the backend retries)
    and nothing is recorded. A crash between a successful send and the commit can still duplicate an email — the
    usual limit of at-least-once delivery without an outbox.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("customer").get(pk=order_id)
        existing = InvoiceEmail.objects.filter(order=order).first()
        if existing is not None:
            return {"order_id": order_id, "sent": False, "message_id": existing.message_id}
        lines = list(order.lines.select_related("product").order_by("product__sku"))
        context = {"order": order, "customer": order.customer, "lines": lines, "total": order.total}
        subject = _invoice_subject(order)
        message_id = make_msgid(idstring=f"invoice-{order.pk}", domain=MESSAGE_ID_DOMAIN)
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("shop/email/invoice.txt", context),
            to=[order.customer.email],
            # An explicit Message-ID: it is recorded, and Django's default would resolve the host's FQDN.
            headers={"Message-ID": message_id},
        )
        message.attach_alternative(render_to_string("shop/email/invoice.html", context), "text/html")
        message.send(fail_silently=False)
        now = timezone.now()
        InvoiceEmail.objects.create(
            order=order,
            recipient=order.customer.email,
            subject=subject,
            total=order.total,
            message_id=message_id,
            sent_at=now,
        )
        Order.objects.filter(pk=order.pk).update(status=Order.Status.INVOICED, invoiced_at=now)
    return {"order_id": order_id, "sent": True, "message_id": message_id}


# ---------------------------------------------------------------------------------------------- CSV import

CSV_COLUMNS = ("sku", "name", "price", "stock")
#: How many row errors are stored and shown; ``ProductImport.error_count`` has the total.
MAX_STORED_ERRORS = 200
_STOCK_RE = re.compile(r"[0-9]+")
_MAX_STOCK = 2_147_483_647  # PositiveIntegerField's portable upper bound
_MAX_PRICE = Decimal(10) ** (PRICE_MAX_DIGITS - 2)
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ProductRow:
    """One valid row of a product CSV."""

    sku: str
    name: str
    price: Decimal
    stock: int


def _error(row: int | None, column: str | None, message: str) -> dict[str, Any]:
    return {"row": row, "column": column, "message": message}


def _parse_price(text: str) -> tuple[Decimal | None, str | None]:
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None, f"not a decimal number: {text!r}"
    if not price.is_finite():
        return None, f"not a finite number: {text!r}"
    if price < 0:
        return None, f"must not be negative: {text}"
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return None, f"at most 2 decimal places: {text}"
    if price >= _MAX_PRICE:
        return None, f"must be less than {_MAX_PRICE}: {text}"
    return price.quantize(Decimal("0.01")), None


def parse_products_csv(data: bytes) -> tuple[list[ProductRow], list[dict[str, Any]]]:
    """Validate a whole product CSV; returns ``(rows, errors)`` — use the rows only when ``errors`` is empty.

    The file is UTF-8 (a leading BOM is accepted), with the header ``sku,name,price,stock``. Row numbers are line
    numbers of the file, the header being row 1, as a spreadsheet shows them.
    """
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [], [_error(line, None, f"not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); save as UTF-8")]
    if "\x00" in text:
        return [], [_error(None, None, "the file contains NUL bytes: not a text CSV file")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[dict[str, Any]] = []
    try:
        header = next(reader, None)
        if header is None:
            return [], [_error(None, None, "the file is empty; expected the header sku,name,price,stock")]
        if [h.strip().lower() for h in header] != list(CSV_COLUMNS):
            return [], [_error(1, None, f"bad header {','.join(header)!r}; expected exactly sku,name,price,stock")]
        rows: list[ProductRow] = []
        first_row_of: dict[str, int] = {}
        for fields in reader:
            n = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if len(fields) != len(CSV_COLUMNS):
                errors.append(_error(n, None, f"expected 4 fields, found {len(fields)}"))
                continue
            sku, name, price_text, stock_text = (f.strip() for f in fields)
            row_ok = True
            if not sku:
                errors.append(_error(n, "sku", "must not be empty"))
                row_ok = False
            elif len(sku) > SKU_MAX_LENGTH:
                errors.append(_error(n, "sku", f"longer than {SKU_MAX_LENGTH} characters"))
                row_ok = False
            elif sku in first_row_of:
                errors.append(_error(n, "sku", f"duplicate SKU {sku!r} (first on row {first_row_of[sku]})"))
                row_ok = False
            else:
                first_row_of[sku] = n
            if not name:
                errors.append(_error(n, "name", "must not be empty"))
                row_ok = False
            elif len(name) > NAME_MAX_LENGTH:
                errors.append(_error(n, "name", f"longer than {NAME_MAX_LENGTH} characters"))
                row_ok = False
            price, price_error = _parse_price(price_text)
            if price_error:
                errors.append(_error(n, "price", price_error))
                row_ok = False
            if not _STOCK_RE.fullmatch(stock_text):
                errors.append(_error(n, "stock", f"not a whole number ≥ 0: {stock_text!r}"))
                row_ok = False
            elif int(stock_text) > _MAX_STOCK:
                errors.append(_error(n, "stock", f"larger than {_MAX_STOCK}"))
                row_ok = False
            if row_ok and not errors:
                assert price is not None
                rows.append(ProductRow(sku, name, price, int(stock_text)))
    except csv.Error as exc:
        errors.append(_error(reader.line_num, None, f"malformed CSV: {exc}"))
    return ([] if errors else rows), errors


def upsert_products(rows: Sequence[ProductRow]) -> dict[str, int]:
    """Insert or update products by SKU in one transaction; returns ``{"created": n, "updated": n}``."""
    skus = [r.sku for r in rows]
    with transaction.atomic():
        existing = 0
        # Chunked so that SQLite's bound-parameter limit (999 on older builds) is respected.
        for i in range(0, len(skus), 900):
            existing += Product.objects.filter(sku__in=skus[i : i + 900]).count()
        Product.objects.bulk_create(
            [Product(sku=r.sku, name=r.name, price=r.price, stock=r.stock) for r in rows],
            update_conflicts=True,
            unique_fields=["sku"],
            update_fields=["name", "price", "stock"],
            batch_size=2000,
        )
    return {"created": len(rows) - existing, "updated": existing}


def import_products(import_id: int) -> dict[str, int]:
    """Import the CSV uploaded as ``ProductImport`` ``import_id``: validate everything, then upsert in one go.

    A malformed file is rejected whole: its row errors are stored on the import and :class:`ImportRejected` is
    raised. An import that already succeeded (a redelivered task) returns its recorded counts unchanged.
    """
    imp = ProductImport.objects.get(pk=import_id)
    if imp.status == ProductImport.Status.SUCCEEDED:
        return {"created": imp.created or 0, "updated": imp.updated or 0}
    try:
        with imp.file.open("rb") as f:
            data = f.read()
        rows, errors = parse_products_csv(data)
        if errors:
            ProductImport.objects.filter(pk=imp.pk).update(
                status=ProductImport.Status.REJECTED,
                errors=errors[:MAX_STORED_ERRORS],
                error_count=len(errors),
                created=None,
                updated=None,
                finished_at=timezone.now(),
            )
            raise ImportRejected(import_id, errors[:MAX_STORED_ERRORS], len(errors))
        with transaction.atomic():
            counts = upsert_products(rows)
            ProductImport.objects.filter(pk=imp.pk).update(
                status=ProductImport.Status.SUCCEEDED,
                errors=[],
                error_count=0,
                finished_at=timezone.now(),
                **counts,
            )
        return counts
    except ImportRejected:
        raise
    except Exception as exc:
        ProductImport.objects.filter(pk=imp.pk).update(
            status=ProductImport.Status.FAILED,
            errors=[_error(None, None, f"{type(exc).__name__}: {exc}")],
            error_count=1,
            finished_at=timezone.now(),
        )
        raise


# -------------------------------------------------------------------------------------------- sales report

_MONEY = DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)


def _money(value: Decimal | None) -> str:
    return str((value or Decimal(0)).quantize(Decimal("0.01")))


def _period(start: str, end: str) -> tuple[date, date]:
    d_start, d_end = date.fromisoformat(start), date.fromisoformat(end)
    if d_start > d_end:
        raise ValueError(f"start {start} is after end {end}")
    return d_start, d_end


def sales_report_data(start: date, end: date) -> dict[str, Any]:
    """The report for orders created from ``start`` to ``end`` inclusive (UTC days), cancelled orders excluded.

    Money is returned as strings with two decimals and every list has a total order, so the JSON is deterministic.
    """
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(datetime.combine(start, datetime.min.time()), tz)
    until = timezone.make_aware(datetime.combine(end + timedelta(days=1), datetime.min.time()), tz)
    orders = Order.objects.filter(created_at__gte=since, created_at__lt=until).exclude(status=Order.Status.CANCELLED)
    lines = OrderLine.objects.filter(order__in=orders)
    line_revenue = ExpressionWrapper(F("quantity") * F("unit_price"), output_field=_MONEY)

    products = (
        lines.values("product__sku", "product__name")
        .annotate(units=Sum("quantity"), revenue=Sum(line_revenue, output_field=_MONEY))
        .order_by("-revenue", "product__sku")
    )
    days = (
        orders.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(orders=Count("pk"), revenue=Sum("total", output_field=_MONEY))
        .order_by("day")
    )
    customers = (
        orders.values("customer__email", "customer__name")
        .annotate(orders=Count("pk"), revenue=Sum("total", output_field=_MONEY))
        .order_by("-revenue", "customer__email")[:10]
    )
    totals = orders.aggregate(orders=Count("pk"), revenue=Sum("total", output_field=_MONEY))
    quantity = lines.aggregate(units=Sum("quantity"))["units"] or 0
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "totals": {"orders": totals["orders"], "quantity": quantity, "revenue": _money(totals["revenue"])},
        "products": [
            {
                "sku": p["product__sku"],
                "name": p["product__name"],
                "quantity": p["units"],
                "revenue": _money(p["revenue"]),
            }
            for p in products
        ],
        "days": [{"day": d["day"].isoformat(), "orders": d["orders"], "revenue": _money(d["revenue"])} for d in days],
        "top_customers": [
            {
                "email": c["customer__email"],
                "name": c["customer__name"],
                "orders": c["orders"],
                "revenue": _money(c["revenue"]),
            }
            for c in customers
        ],
    }


def _report_csv(data: dict[str, Any]) -> bytes:
    """One table with a ``section`` column: ``product``, ``day``, ``customer`` and ``total`` rows."""
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "key", "name", "count", "revenue"])
    for p in data["products"]:
        w.writerow(["product", p["sku"], p["name"], p["quantity"], p["revenue"]])
    for d in data["days"]:
        w.writerow(["day", d["day"], "", d["orders"], d["revenue"]])
    for c in data["top_customers"]:
        w.writerow(["customer", c["email"], c["name"], c["orders"], c["revenue"]])
    t = data["totals"]
    w.writerow(["total", f"{data['period']['start']}..{data['period']['end']}", "", t["orders"], t["revenue"]])
    return out.getvalue().encode()


def _write_atomically(path: Path, content: bytes) -> None:
    # Readers (downloads, a concurrent duplicate task) never see half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def build_sales_report(start: str, end: str) -> dict[str, Any]:
    """Aggregate the period's orders and write ``media/reports/sales-<start>-<end>.json`` and ``.csv``.

    The files hold no timestamp, so the same data gives the same bytes; the ``SalesReport`` row of the period is
    created or updated with the paths, checksums and ``generated_at``.
    """
    d_start, d_end = _period(start, end)
    data = sales_report_data(d_start, d_end)
    json_bytes = (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    csv_bytes = _report_csv(data)
    base = f"reports/sales-{d_start.isoformat()}-{d_end.isoformat()}"
    media = Path(settings.MEDIA_ROOT)
    _write_atomically(media / f"{base}.json", json_bytes)
    _write_atomically(media / f"{base}.csv", csv_bytes)
    json_sha = hashlib.sha256(json_bytes).hexdigest()
    report, _ = SalesReport.objects.update_or_create(
        start=d_start,
        end=d_end,
        defaults={
            "json_path": f"{base}.json",
            "csv_path": f"{base}.csv",
            "json_sha256": json_sha,
            "csv_sha256": hashlib.sha256(csv_bytes).hexdigest(),
            "orders": data["totals"]["orders"],
            "revenue": Decimal(data["totals"]["revenue"]),
            "generated_at": timezone.now(),
        },
    )
    return {"report_id": report.pk, "json_path": f"{base}.json", "csv_path": f"{base}.csv", "sha256": json_sha}


# ------------------------------------------------------------------------------------ instrumentation tasks


def noop() -> None:
    """Does nothing: what is measured is the queue's own cost."""


def gate_path(gate: str) -> Path:
    """The file whose existence opens gate ``gate``: ``$SHOP_VAR_DIR/gates/<gate>`` (outside every broker)."""
    if not gate or "/" in gate or gate in {".", ".."} or "\x00" in gate:
        raise ValueError(f"bad gate name {gate!r}")
    return Path(settings.SHOP_VAR_DIR) / "gates" / gate


def sleep(seconds: float, gate: str | None = None) -> None:
    """A long task for the fault scenarios: sleeps ``seconds``; with ``gate``, returns as soon as the harness opens
    the gate (creates :func:`gate_path`), and after ``seconds`` at the latest.

    The gate makes "this worker process is inside a long task" a state the harness controls instead of a timing
    it hopes for: the task runs until the harness says so, so a fault hits a task that
    is certainly running.
    """
    if gate is None:
        time.sleep(seconds)
        return
    path = gate_path(gate)
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def flaky_attempts_path(key: str) -> Path:
    """The attempt counter file of ``flaky(key, …)``: ``$SHOP_VAR_DIR/flaky/<key>``."""
    if not key or "/" in key or key in {".", ".."} or "\x00" in key:
        raise ValueError(f"bad flaky key {key!r}")
    return Path(settings.SHOP_VAR_DIR) / "flaky" / key


def flaky_attempts(key: str) -> int:
    """How many attempts ``flaky(key, …)`` has made so far (0 if none)."""
    try:
        return flaky_attempts_path(key).stat().st_size
    except FileNotFoundError:
        return 0


def flaky(key: str, fail_times: int) -> int:
    """Fail the first ``fail_times`` attempts (``< 0``: every attempt), then succeed; returns the attempt number.

    Attempts are counted outside the broker and the database: one byte appended per attempt with ``O_APPEND``, so
    the count survives a SIGKILL or a Redis outage. The attempt number is this descriptor's offset after its own
    write (``O_APPEND`` moves it to the end atomically with the write), so concurrent attempts never share one.
    """
    path = flaky_attempts_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, b".")
        attempt = os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)
    if fail_times < 0 or attempt <= fail_times:
        raise FlakyError(f"flaky {key}: attempt {attempt} fails (fail_times={fail_times})")
    return attempt


#: Every body by task name (the backends' ``flaky_default``/``flaky_retry`` both wrap :func:`flaky`).
TASKS = {
    "send_invoice_email": send_invoice_email,
    "import_products": import_products,
    "build_sales_report": build_sales_report,
    "noop": noop,
    "sleep": sleep,
    "flaky": flaky,
    "flaky_default": flaky,
    "flaky_retry": flaky,
}
#: The task names every backend's queue module enqueues (its ``ENQUEUE``): ``flaky`` only runs as one of the two
#: retry policies.
ENQUEUED = tuple(name for name in TASKS if name != "flaky")
