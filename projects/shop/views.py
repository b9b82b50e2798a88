"""The shop's pages: server-rendered, each write goes through a form and enqueues its task via ``shop.queue``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from shop import demo, queue
from shop.forms import OrderForm, OrderLineFormSet, ProductImportForm, SalesReportForm
from shop.models import InvoiceEmail, Order, OrderLine, Product, ProductImport, SalesReport, TaskRun

PAGE_SIZE = 50


def _submit(request: HttpRequest, task_name: str, *args: object) -> TaskRun | None:
    """Enqueue and tell the user what happened; a broker outage is a message, not a server error."""
    try:
        run = queue.submit(task_name, *args)
    except queue.EnqueueFailed as exc:
        messages.error(request, f"The task queue is unavailable, {task_name} was not queued: {exc.cause}")
        return None
    messages.success(request, f"Queued {task_name} (task run #{run.pk}).")
    return run


@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    """Products, paginated, searchable by SKU or name."""
    products = Product.objects.order_by("sku")
    q = request.GET.get("q", "").strip()
    if q:
        products = products.filter(Q(sku__icontains=q) | Q(name__icontains=q))
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/catalogue.html", {"page": page, "q": q})


@require_http_methods(["GET", "POST"])
def order_create(request: HttpRequest) -> HttpResponse:
    """Place an order, then enqueue its invoice email."""
    if request.method == "POST":
        form = OrderForm(request.POST)
        lines = OrderLineFormSet(request.POST, prefix="lines")
        if form.is_valid() and lines.is_valid():
            try:
                order = demo.place_order(form.cleaned_data["customer"].email, lines.items())
            except demo.OrderError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Order #{order.pk} placed: {order.total} EUR.")
                _submit(request, "send_invoice_email", order.pk)
                return redirect(order)
    else:
        form = OrderForm()
        lines = OrderLineFormSet(prefix="lines")
    return render(request, "shop/order_form.html", {"form": form, "lines": lines})


@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    """Recent orders with their invoice state."""
    orders = Order.objects.select_related("customer", "invoice_email")
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/order_list.html", {"page": page})


@require_GET
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One order, its lines and whether its invoice was sent."""
    order = get_object_or_404(
        Order.objects.select_related("customer").prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("product"))
        ),
        pk=pk,
    )
    invoice = InvoiceEmail.objects.filter(order=order).first()
    runs = TaskRun.objects.filter(task_name="send_invoice_email", args_summary=repr(order.pk))
    return render(request, "shop/order_detail.html", {"order": order, "invoice": invoice, "runs": runs})


@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest) -> HttpResponse:
    """Upload a product CSV and enqueue its import; lists recent imports."""
    if request.method == "POST":
        form = ProductImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            imp = demo.create_import(upload.read(), Path(upload.name).name)
            _submit(request, "import_products", imp.pk)
            return redirect("shop:import_detail", pk=imp.pk)
    else:
        form = ProductImportForm()
    imports = ProductImport.objects.all()[:20]
    return render(request, "shop/import_form.html", {"form": form, "imports": imports})


@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An import's outcome, with the row errors of a rejected file."""
    imp = get_object_or_404(ProductImport, pk=pk)
    return render(request, "shop/import_detail.html", {"imp": imp})


@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    """Request a sales report; lists the generated ones."""
    if request.method == "POST":
        form = SalesReportForm(request.POST)
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            _submit(request, "build_sales_report", start.isoformat(), end.isoformat())
            return redirect("shop:report_list")
    else:
        # The demo orders' period, so that the first report has something in it.
        first_day = demo.DEMO_START.date()
        form = SalesReportForm(initial={"start": first_day, "end": first_day + timedelta(days=demo.DEMO_DAYS - 1)})
    reports = SalesReport.objects.all()[:50]
    return render(request, "shop/report_list.html", {"form": form, "reports": reports})


@require_GET
def report_download(request: HttpRequest, pk: int, fmt: str) -> FileResponse:
    """A report file, served by the shop itself so that no project has to serve MEDIA_ROOT."""
    report = get_object_or_404(SalesReport, pk=pk)
    relative = {"json": report.json_path, "csv": report.csv_path}.get(fmt)
    if relative is None:
        raise Http404("unknown format")
    media = Path(settings.MEDIA_ROOT).resolve()
    path = (media / relative).resolve()
    if not path.is_relative_to(media) or not path.is_file():
        raise Http404("report file missing")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@require_GET
def task_runs(request: HttpRequest) -> HttpResponse:
    """The tasks the shop triggered: task, backend, state, attempts, timings, errors."""
    runs = TaskRun.objects.all()
    state = request.GET.get("state", "")
    if state in TaskRun.State.values:
        runs = runs.filter(state=state)
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/task_runs.html", {"page": page, "state": state, "states": TaskRun.State.values})
