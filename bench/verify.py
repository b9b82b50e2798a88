"""Verification: before a backend is measured, prove that its real workers do the shop's real work.

:func:`verify_backend` starts the backend's workers through its real command line, waits for a readiness probe,
triggers every shop task the way the shop's web pages do (``shop.queue.submit`` inside ``bench.agent``), and checks
the effects, not the queue's word for it:

- the invoice email reached the SMTP sink once (also when the task is delivered twice), with the right recipient,
  subject and total, and the order is marked invoiced;
- a valid CSV import created/updated exactly the products of the file, with the file's values;
- malformed CSV files (bad rows, bad header, wrong encoding) wrote nothing and recorded row errors;
- the sales report file's content equals the expectation computed independently (plain Python over the fixture,
  not the ORM), and its digest is returned so that backends can be compared with each other.

The fixture lives in its own namespace (``VFY-`` SKUs, ``@verify.example`` customers, a period in 2001), so
verification can run on a database that holds demo data, and again on the same database.

The ``verify_*`` functions decorated with :func:`bench.agent.command` run inside the backend's Django environment
(``python -m bench.agent``); everything else runs in the harness and never imports Django.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.agent import command, run_agent
from bench.backends import Backend
from bench.channel_wait import ChannelWatcher
from bench.errors import BenchError
from bench.services import ManagedProcess, RedisService, SmtpSink

# --------------------------------------------------------------------------------------------------------------------
# The fixture (plain data; the agent turns it into rows, the expectation is computed from it without the ORM)
# --------------------------------------------------------------------------------------------------------------------

CUSTOMERS = {
    "ada@verify.example": "Ada Verify",
    "bob@verify.example": "Bob Verify",
    "cy@verify.example": "Cy Verify",
}
#: sku → (name, price, stock). Prices chosen so that sums exercise the cents.
PRODUCTS = {
    "VFY-A": ("Verify Anvil", Decimal("12.50"), 10_000),
    "VFY-B": ("Verify Bolt", Decimal("3.99"), 10_000),
    "VFY-C": ("Verify Crate", Decimal("100.00"), 10_000),
    "VFY-D": ("Verify Drill", Decimal("0.05"), 10_000),
    # Touched only by the imports (never ordered), so the report cannot race the import.
    "VFY-U": ("Verify Umbrella", Decimal("7.00"), 5),
    "VFY-X": ("Verify Xylophone", Decimal("42.00"), 1),
}
REPORT_START = date(2001, 3, 1)
REPORT_END = date(2001, 3, 3)
#: (customer email, created_at UTC, {sku: quantity}, cancelled)
ORDERS: list[tuple[str, datetime, dict[str, int], bool]] = [
    ("ada@verify.example", datetime(2001, 2, 28, 23, 59, 59, tzinfo=UTC), {"VFY-C": 9}, False),  # before: excluded
    ("ada@verify.example", datetime(2001, 3, 1, 0, 0, 0, tzinfo=UTC), {"VFY-A": 2, "VFY-B": 1}, False),
    ("bob@verify.example", datetime(2001, 3, 1, 13, 30, tzinfo=UTC), {"VFY-C": 1}, False),
    ("cy@verify.example", datetime(2001, 3, 2, 9, 15, tzinfo=UTC), {"VFY-D": 7, "VFY-A": 1}, False),
    ("bob@verify.example", datetime(2001, 3, 2, 18, 0, tzinfo=UTC), {"VFY-B": 3}, True),  # cancelled: excluded
    ("cy@verify.example", datetime(2001, 3, 3, 23, 59, 59, tzinfo=UTC), {"VFY-B": 10, "VFY-C": 1}, False),
    ("ada@verify.example", datetime(2001, 3, 4, 0, 0, 0, tzinfo=UTC), {"VFY-A": 5}, False),  # after: excluded
]
#: The order whose invoice is sent (outside the report period, so invoicing cannot change the report).
INVOICE_ORDER = ("bob@verify.example", datetime(2001, 4, 1, 10, 0, tzinfo=UTC), {"VFY-A": 3, "VFY-D": 3, "VFY-C": 2})

VALID_CSV = (
    b"sku,name,price,stock\n"
    b"VFY-U,Verify Umbrella XL,8.25,12\n"  # update
    b"VFY-N1,Verify New One,1.00,0\n"  # create
    b'VFY-N2,"Verify New, Two",1234.56,99\n'  # create; quoted comma
)
VALID_CSV_EXPECTED = {
    "VFY-U": ("Verify Umbrella XL", "8.25", 12),
    "VFY-N1": ("Verify New One", "1.00", 0),
    "VFY-N2": ("Verify New, Two", "1234.56", 99),
}
#: name → (file bytes, the rows that must be reported as bad). Each would change VFY-X or create VFY-BAD-*.
MALFORMED_CSVS: dict[str, tuple[bytes, list[int]]] = {
    "bad_rows": (
        (
            b"sku,name,price,stock\n"
            b"VFY-BAD-1,Fine row,1.00,1\n"
            b"VFY-X,Xylophone changed,12;50,3\n"  # row 3: bad price
            b"VFY-BAD-1,Duplicate,2.00,2\n"  # row 4: duplicate SKU
        ),
        [3, 4],
    ),
    "bad_header": (b"code,title,price,stock\nVFY-BAD-2,Header wrong,1.00,1\n", []),
    "latin1": ("sku,name,price,stock\nVFY-BAD-3,Caf\u00e9 cr\u00e8me,2.00,1\nVFY-X,X,1.00,1\n".encode("latin-1"), []),
}


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def expected_report() -> dict[str, Any]:
    """The sales report of the fixture's period, aggregated in plain Python from :data:`ORDERS`."""
    since = datetime.combine(REPORT_START, datetime.min.time(), UTC)
    until = datetime.combine(REPORT_END + timedelta(days=1), datetime.min.time(), UTC)
    orders = [o for o in ORDERS if since <= o[1] < until and not o[3]]
    products: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    days: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    customers: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    quantity = 0
    revenue = Decimal(0)
    for email, created, items, _ in orders:
        total = sum((PRODUCTS[sku][1] * qty for sku, qty in items.items()), Decimal(0))
        for sku, qty in items.items():
            products[sku][0] += qty
            products[sku][1] += PRODUCTS[sku][1] * qty
            quantity += qty
        days[created.date().isoformat()][0] += 1
        days[created.date().isoformat()][1] += total
        customers[email][0] += 1
        customers[email][1] += total
        revenue += total
    return {
        "period": {"start": REPORT_START.isoformat(), "end": REPORT_END.isoformat()},
        "totals": {"orders": len(orders), "quantity": quantity, "revenue": _money(revenue)},
        "products": [
            {"sku": sku, "name": PRODUCTS[sku][0], "quantity": q, "revenue": _money(r)}
            for sku, (q, r) in sorted(products.items(), key=lambda kv: (-kv[1][1], kv[0]))
        ],
        "days": [{"day": d, "orders": n, "revenue": _money(r)} for d, (n, r) in sorted(days.items())],
        "top_customers": [
            {"email": e, "name": CUSTOMERS[e], "orders": n, "revenue": _money(r)}
            for e, (n, r) in sorted(customers.items(), key=lambda kv: (-kv[1][1], kv[0]))
        ][:10],
    }


# --------------------------------------------------------------------------------------------------------------------
# Agent side (inside the backend's Django environment)
# --------------------------------------------------------------------------------------------------------------------


@command("enqueue")
def agent_enqueue(task: str, args: list[Any] | None = None, probe: str | None = None) -> dict[str, Any]:
    """Enqueue one task with the backend's own call (``shop.queue.enqueue``); returns the library's id."""
    from shop import queue

    return {"task_id": queue.enqueue(task, *(args or []), probe=probe)}


def _reset_fixture() -> None:
    """Remove what an earlier verification left, so the expectation holds on a reused database."""
    from shop.models import Customer, Order, Product, ProductImport, SalesReport

    Order.objects.filter(customer__email__in=CUSTOMERS).delete()
    Customer.objects.filter(email__in=CUSTOMERS).delete()
    Product.objects.filter(sku__startswith="VFY-").delete()
    ProductImport.objects.filter(original_name__startswith="verify-").delete()
    SalesReport.objects.filter(start=REPORT_START, end=REPORT_END).delete()


@command("verify_submit")
def agent_verify_submit() -> dict[str, Any]:
    """Create the fixture and submit every shop task as the shop's pages do; returns what to wait for and expect."""
    from shop import demo
    from shop.models import Customer, Order, Product
    from shop.queue import submit

    _reset_fixture()
    for email, name in CUSTOMERS.items():
        Customer.objects.create(email=email, name=name)
    for sku, (name, price, stock) in PRODUCTS.items():
        Product.objects.create(sku=sku, name=name, price=price, stock=stock)
    for email, created, items, cancelled in ORDERS:
        order = demo.place_order(email, items, created_at=created)
        if cancelled:
            Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED)
    email, created, items = INVOICE_ORDER
    invoice_order = demo.place_order(email, items, created_at=created)

    imports = {"valid": demo.create_import(VALID_CSV, "verify-valid.csv")}
    for name, (data, _) in MALFORMED_CSVS.items():
        imports[name] = demo.create_import(data, f"verify-{name}.csv")

    runs: dict[str, dict[str, Any]] = {}
    # Delivered twice on purpose: the second delivery must not send a second invoice.
    runs["invoice"] = {"probe": str(submit("send_invoice_email", invoice_order.pk).probe), "expect": "F"}
    runs["invoice_again"] = {"probe": str(submit("send_invoice_email", invoice_order.pk).probe), "expect": "F"}
    runs["import_valid"] = {"probe": str(submit("import_products", imports["valid"].pk).probe), "expect": "F"}
    for name in MALFORMED_CSVS:
        runs[f"import_{name}"] = {"probe": str(submit("import_products", imports[name].pk).probe), "expect": "E"}
    runs["report"] = {
        "probe": str(submit("build_sales_report", REPORT_START.isoformat(), REPORT_END.isoformat()).probe),
        "expect": "F",
    }
    return {
        "runs": runs,
        "invoice": {
            "order_id": invoice_order.pk,
            "recipient": invoice_order.customer.email,
            "total": _money(sum((PRODUCTS[s][1] * q for s, q in items.items()), Decimal(0))),
        },
        "imports": {name: imp.pk for name, imp in imports.items()},
    }


@command("verify_check")
def agent_verify_check(invoice_order_id: int, imports: dict[str, int]) -> dict[str, Any]:
    """Inspect the database and media files after the tasks ran; returns the checks and the report files."""
    from django.conf import settings

    from shop.models import InvoiceEmail, Order, Product, ProductImport, SalesReport

    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"name": name, "passed": bool(passed), "detail": detail})

    # Invoice: recorded once, order invoiced.
    order = Order.objects.get(pk=invoice_order_id)
    sent = list(
        InvoiceEmail.objects.filter(order_id=invoice_order_id).values("recipient", "subject", "total", "message_id")
    )
    check(
        "invoice recorded",
        len(sent) == 1 and order.status == Order.Status.INVOICED and order.invoiced_at is not None,
        f"{len(sent)} InvoiceEmail row(s), order status {order.status!r}",
    )

    # Valid import: exactly the file's values.
    imp = ProductImport.objects.get(pk=imports["valid"])
    got = {p.sku: (p.name, str(p.price), p.stock) for p in Product.objects.filter(sku__in=list(VALID_CSV_EXPECTED))}
    check(
        "import: products written",
        got == VALID_CSV_EXPECTED,
        "all 3 rows match the file" if got == VALID_CSV_EXPECTED else f"expected {VALID_CSV_EXPECTED}, found {got}",
    )
    check(
        "import: counts recorded",
        imp.status == ProductImport.Status.SUCCEEDED and (imp.created, imp.updated) == (2, 1),
        f"status {imp.status!r}, created {imp.created}, updated {imp.updated} (expected succeeded, 2, 1)",
    )

    # Malformed imports: nothing written, errors recorded on the import.
    x_name, x_price, x_stock = PRODUCTS["VFY-X"]
    x = Product.objects.get(sku="VFY-X")
    bad_written = list(Product.objects.filter(sku__startswith="VFY-BAD-").values_list("sku", flat=True))
    check(
        "malformed imports: nothing written",
        not bad_written and (x.name, x.price, x.stock) == (x_name, x_price, x_stock),
        f"VFY-BAD-* rows: {bad_written}, VFY-X: {(x.name, str(x.price), x.stock)}",
    )
    for name, (_, bad_rows) in MALFORMED_CSVS.items():
        imp = ProductImport.objects.get(pk=imports[name])
        rows = sorted({e.get("row") for e in imp.errors if isinstance(e, dict) and e.get("row") is not None})
        ok = (
            imp.status == ProductImport.Status.REJECTED
            and imp.error_count >= max(1, len(bad_rows))
            and all(r in rows for r in bad_rows)
            and imp.created is None
        )
        check(
            f"malformed import {name}: rejected with row errors",
            ok,
            f"status {imp.status!r}, {imp.error_count} error(s) on rows {rows} (must include {bad_rows}): "
            + "; ".join(str(e.get("message")) for e in imp.errors[:3] if isinstance(e, dict)),
        )

    # Report: the file equals the independent expectation; its digest and the recorded checksum agree.
    files: dict[str, str] = {}
    report = SalesReport.objects.filter(start=REPORT_START, end=REPORT_END).first()
    if report is None:
        check("report recorded", False, "no SalesReport row for the period")
    else:
        media = Path(settings.MEDIA_ROOT)
        json_bytes = (media / report.json_path).read_bytes()
        csv_bytes = (media / report.csv_path).read_bytes()
        files = {"json": json_bytes.decode(), "csv": csv_bytes.decode()}
        data = json.loads(json_bytes)
        expected = expected_report()
        diff = [key for key in expected if data.get(key) != expected[key]]
        check(
            "report content as expected",
            not diff,
            "products, days, customers and totals match"
            if not diff
            else "; ".join(f"{k}: expected {expected[k]} found {data.get(k)}" for k in diff),
        )
        check(
            "report recorded",
            report.json_sha256 == hashlib.sha256(json_bytes).hexdigest()
            and report.orders == expected["totals"]["orders"],
            f"SalesReport orders={report.orders} revenue={report.revenue}, checksum "
            + ("matches" if report.json_sha256 == hashlib.sha256(json_bytes).hexdigest() else "differs"),
        )
    return {"checks": checks, "report_files": files, "invoice_rows": json.loads(json.dumps(sent, default=str))}


# --------------------------------------------------------------------------------------------------------------------
# Harness side
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Check:
    """One verified property of a backend."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class VerificationReport:
    """What :func:`verify_backend` found; ``passed`` only if every check passed."""

    backend: str
    profile: str
    processes: int
    checks: list[Check] = field(default_factory=list)
    #: The sales report files the workers wrote (``json``/``csv`` → text), to compare across backends.
    report_files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    worker_argv: list[str] = field(default_factory=list)
    worker_log: str | None = None
    #: Seconds spent per phase (prepare, ready, tasks, check, stop): where verification time goes.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every check passed (and there was at least one)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def report_digests(self) -> dict[str, str]:
        """sha256 of each report file."""
        return {k: hashlib.sha256(v.encode()).hexdigest() for k, v in self.report_files.items()}

    def summary(self) -> str:
        """One line: ``celery: verified (12 checks, 8.1 s)`` or the first failures."""
        if self.passed:
            return f"{self.backend}: verified ({len(self.checks)} checks, {self.seconds:.1f} s)"
        failed = "; ".join(f"{c.name}: {c.detail}" for c in self.failures()[:3])
        return f"{self.backend}: FAILED verification — {failed}"

    def format(self) -> str:
        """A multi-line table of every check."""
        lines = [self.summary() + "  [" + ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items()) + "]"]
        lines += [f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        if not self.passed and self.worker_log:
            lines.append(f"  worker log: {self.worker_log}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for results files), with report digests instead of the file contents."""
        data = asdict(self)
        data.pop("report_files")
        data["report_digests"] = self.report_digests()
        data["passed"] = self.passed
        return data


class _Failed(Exception):
    """Stop verifying: a step failed and later steps depend on it (already recorded as a failed check)."""


def _wait_ended(watcher: ChannelWatcher, probes: list[str], timeout: float, worker: ManagedProcess) -> None:
    """Wait until every probe has an end event (``F`` or ``E``), the workers die, or ``timeout`` passes."""
    watcher.wait_for(probes, ("finishes", "errors"), timeout_s=timeout, alive=worker.alive)


def _state(process: ManagedProcess) -> str:
    return "running" if process.alive() else f"exited with status {process.returncode}"


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def verify_backend(
    backend: Backend,
    *,
    redis: RedisService,
    smtp: SmtpSink,
    workdir: str | Path,
    processes: int = 2,
    profile: str = "shipped",
    log_level: str = "WARNING",
    database_url: str | None = None,
    timeout: float = 60.0,
    amqp_url: str | None = None,
) -> VerificationReport:
    """Start ``backend``'s real workers, run every shop task through them and check the real effects.

    ``redis`` is flushed first (pass a private server, or the user's DB); ``smtp`` must be running, its maildir is
    cleared; ``workdir/<backend>/`` receives the SQLite database, media files, channel and logs. Backend failures
    (missing package, worker that does not start, wrong effects) are failed checks in the report, not exceptions,
    so a harness can report the backend as failed and go on. The workers are always stopped.
    """
    started = time.monotonic()
    base = Path(workdir) / backend.name
    var_dir, channel_dir, log_dir = base / "var", base / "channel", base / "logs"
    for d in (var_dir, channel_dir, log_dir):
        d.mkdir(parents=True, exist_ok=True)
    # Probes are `run:<TaskRun pk>`: events of an earlier verification with another database must not count.
    for old in channel_dir.glob("events-*.log"):
        old.unlink()
    report = VerificationReport(backend=backend.name, profile=profile, processes=processes)

    mark = [started]

    def phase(name: str) -> None:
        now = time.monotonic()
        report.phases[name] = round(now - mark[0], 3)
        mark[0] = now

    def check(name: str, passed: bool, detail: str = "") -> None:
        report.checks.append(Check(name, passed, detail))
        if not passed and name in _BLOCKING:
            raise _Failed(name)

    worker: ManagedProcess | None = None
    try:
        try:
            backend.check_installed()
            report.worker_argv = backend.worker_argv(processes, profile, log_level)
            check("installed", True, ", ".join(f"{k} {v}" for k, v in backend.versions().items()))
        except BenchError as exc:
            check("installed", False, str(exc))
        redis.flushall()
        smtp.clear()
        env = backend.environment(
            redis_url=redis.url,
            amqp_url=amqp_url,  # the RabbitMQ backends' broker (SHOP_AMQP_URL)
            var_dir=var_dir,
            smtp_port=smtp.port,
            channel_dir=channel_dir,
            profile=profile,
            log_level=log_level,
            database_url=database_url,
        )
        try:
            run_agent(backend, env, "prepare", {"demo": False}, timeout=timeout * 2)
            check("database migrated", True)
        except BenchError as exc:
            check("database migrated", False, str(exc))

        worker_log = log_dir / f"worker-{int(time.time())}.log"
        report.worker_log = str(worker_log)
        worker = ManagedProcess(
            report.worker_argv,
            env=env | backend.worker_env(processes, log_level),
            cwd=backend.project_dir,
            log_path=worker_log,
            name=f"{backend.name}-worker",
        )
        worker.start()
        phase("prepare")
        ready_probe = f"ready-{uuid.uuid4().hex[:12]}"
        t0 = time.monotonic()
        run_agent(backend, env, "enqueue", {"task": "noop", "probe": ready_probe}, timeout=timeout)
        watcher = ChannelWatcher(str(channel_dir))
        _wait_ended(watcher, [ready_probe], timeout, worker)
        ready = bool(watcher.log.finishes.get(ready_probe))
        check(
            "workers ready",
            ready,
            f"noop probe finished {time.monotonic() - t0:.1f} s after enqueue"
            if ready
            else f"no finished noop probe within {timeout:.0f} s (worker {_state(worker)})"
            + f"; log tail: {worker.log_tail(5)}",
        )

        phase("ready")
        submitted = run_agent(backend, env, "verify_submit", timeout=timeout)
        runs: dict[str, dict[str, Any]] = submitted["runs"]
        _wait_ended(watcher, [r["probe"] for r in runs.values()], timeout, worker)
        for key, run in runs.items():
            kinds = watcher.log.kinds(run["probe"])
            ended = next((k for k in kinds if k in ("F", "E")), None)
            check(
                f"task {key} ran",
                ended == run["expect"],
                f"expected {'success' if run['expect'] == 'F' else 'a rejection'}, "
                f"channel events {''.join(kinds) or 'none'}",
            )

        invoice = submitted["invoice"]
        _check_mail(check, smtp, invoice)

        phase("tasks")
        result = run_agent(
            backend,
            env,
            "verify_check",
            {"invoice_order_id": invoice["order_id"], "imports": submitted["imports"]},
            timeout=timeout,
        )
        for c in result["checks"]:
            check(c["name"], c["passed"], c["detail"])
        report.report_files = result["report_files"]
        sent = result["invoice_rows"]
        if sent:
            check(
                "invoice row matches the mail",
                any(str(m["Message-ID"]).strip() == sent[0]["message_id"] for m in smtp.messages()),
                f"recorded Message-ID {sent[0]['message_id']}",
            )
    except _Failed:
        pass
    except BenchError as exc:
        report.checks.append(Check("verification ran", False, str(exc)))
    finally:
        if worker is not None:
            phase("check")
            worker.stop(timeout=15)
            phase("stop")
        report.seconds = time.monotonic() - started
    return report


#: Checks after whose failure the rest cannot run.
_BLOCKING = {"installed", "database migrated", "workers ready"}


def _check_mail(check: Any, smtp: SmtpSink, invoice: dict[str, Any]) -> None:
    """The invoice reached the sink exactly once, to the customer, with the order number and total."""
    try:
        smtp.wait_for(1, timeout=10)
    except TimeoutError as exc:
        check("invoice email received", False, str(exc))
        return
    # Both deliveries of the task have finished (their channel events were seen), so a duplicate would be here.
    mails = [m for m in smtp.messages() if invoice["recipient"] in str(m["To"])]
    check(
        "invoice email received once",
        len(mails) == 1,
        f"{len(mails)} mail(s) to {invoice['recipient']} after two deliveries of the task",
    )
    if not mails:
        return
    mail = mails[0]
    subject = str(mail["Subject"])
    body = _text_body(mail)
    html = mail.get_body(preferencelist=("html",))
    total = invoice["total"]
    check(
        "invoice email content",
        f"#{invoice['order_id']}" in subject and total in subject and total in body and html is not None,
        f"subject {subject!r}; total {total} {'in' if total in body else 'NOT in'} the text body; "
        f"{'with' if html is not None else 'without'} an HTML part",
    )


# --------------------------------------------------------------------------------------------------------------------
# Command line: python -m bench.verify
# --------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.verify [--backend NAME]...``: verify backends with private services; exit 1 on a failure."""
    import argparse
    import sys
    import tempfile
    from contextlib import ExitStack

    from bench.backends import PROFILES, get_backends
    from bench.errors import BackendUnavailable
    from bench.services import redis_service

    parser = argparse.ArgumentParser(prog="python -m bench.verify", description=main.__doc__)
    parser.add_argument("--backend", "-b", action="append", help="backend to verify (repeatable; default: all)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--profile", choices=PROFILES, default="shipped")
    parser.add_argument("--redis-url", help="use this Redis (its DB is flushed) instead of a private redis-server")
    parser.add_argument("--workdir", help="keep databases, channel and logs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    try:
        chosen = get_backends([n for value in args.backend or [] for n in value.split(",")])
        backends = []
        for backend in chosen:
            try:
                backend.check_available()
            except BackendUnavailable as exc:
                print(f"skipped: {exc}", flush=True)
                continue
            backends.append(backend)
        with ExitStack() as stack:
            workdir = args.workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-verify-"))
            redis = stack.enter_context(redis_service(args.redis_url))
            smtp = stack.enter_context(SmtpSink(Path(workdir) / "maildir"))
            print(f"Redis {redis.version()} at {redis.url}; SMTP sink on 127.0.0.1:{smtp.port}", flush=True)
            reports = []
            for backend in backends:
                report = verify_backend(
                    backend, redis=redis, smtp=smtp, workdir=workdir, processes=args.processes, profile=args.profile
                )
                print(report.format(), flush=True)
                reports.append(report)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    digests = {tuple(sorted(r.report_digests().items())) for r in reports if r.report_files}
    if len(digests) > 1:
        print("FAILED: the sales report files differ between backends", file=sys.stderr)
        return 1
    failed = [r.backend for r in reports if not r.passed]
    print(
        f"verification: {len(reports) - len(failed)} of {len(reports)} backends passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
