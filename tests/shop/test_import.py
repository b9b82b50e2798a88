"""import_products: validation, rejection of whole files, upsert counts and speed on 10,000 rows."""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal

import pytest

from shop import demo, jobs
from shop.models import Product, ProductImport

pytestmark = [pytest.mark.django_db, pytest.mark.unit]


def _run(data: bytes) -> ProductImport:
    imp = demo.create_import(data, "products.csv")
    with contextlib.suppress(jobs.ImportRejected):
        jobs.import_products(imp.pk)
    imp.refresh_from_db()
    return imp


def test_good_file_creates_then_updates() -> None:
    Product.objects.create(sku="A", name="Old", price="1.00", stock=1)
    imp = demo.create_import('sku,name,price,stock\nA,Apple,0.50,10\nB,Bänana "ripe",2,0\n'.encode(), "p.csv")
    assert jobs.import_products(imp.pk) == {"created": 1, "updated": 1}
    imp.refresh_from_db()
    assert (imp.status, imp.created, imp.updated, imp.errors) == ("succeeded", 1, 1, [])
    a, b = Product.objects.order_by("sku")
    assert (a.name, a.price, a.stock) == ("Apple", Decimal("0.50"), 10)
    assert (b.name, b.price, b.stock) == ('Bänana "ripe"', Decimal("2.00"), 0)
    # Redelivered: same answer, nothing changes.
    assert jobs.import_products(imp.pk) == {"created": 1, "updated": 1}


def test_bom_and_crlf_are_accepted() -> None:
    imp = _run(b"\xef\xbb\xbfsku,name,price,stock\r\nA,Apple,1.5,3\r\n")
    assert imp.status == ProductImport.Status.SUCCEEDED
    assert Product.objects.get(sku="A").price == Decimal("1.50")


def _errors(imp: ProductImport) -> list[tuple[int | None, str | None]]:
    return [(e["row"], e["column"]) for e in imp.errors]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"sku,name,cost,stock\nA,Apple,1,1\n", [(1, None)]),
        (b"", [(None, None)]),
        (b"sku,name,price,stock\nA,Apple,abc,1\n", [(2, "price")]),
        (b"sku,name,price,stock\nA,Apple,-1,1\n", [(2, "price")]),
        (b"sku,name,price,stock\nA,Apple,1.234,1\n", [(2, "price")]),
        (b"sku,name,price,stock\nA,Apple,NaN,1\n", [(2, "price")]),
        (b"sku,name,price,stock\nA,Apple,1,-3\n", [(2, "stock")]),
        (b"sku,name,price,stock\nA,Apple,1,2.5\n", [(2, "stock")]),
        (b"sku,name,price,stock\n,Apple,1,1\nB,,1,1\n", [(2, "sku"), (3, "name")]),
        (b"sku,name,price,stock\n" + b"X" * 65 + b",Apple,1,1\n", [(2, "sku")]),
        (b"sku,name,price,stock\nA,Apple,1\n", [(2, None)]),
        (b"sku,name,price,stock\nA,Apple,1,1\nB,Pear,1,1\nA,Again,2,2\n", [(4, "sku")]),
        ("sku,name,price,stock\nA,Apple,1,1\nB,Crème brûlée,1,1\n".encode("latin-1"), [(3, None)]),
    ],
    ids=[
        "bad-header",
        "empty",
        "price-text",
        "price-negative",
        "price-3-decimals",
        "price-nan",
        "stock-negative",
        "stock-fraction",
        "empty-fields",
        "sku-too-long",
        "missing-field",
        "duplicate-sku",
        "latin-1",
    ],
)
def test_malformed_file_is_rejected_whole(data: bytes, expected: list[tuple[int | None, str | None]]) -> None:
    Product.objects.create(sku="A", name="Untouched", price="9.99", stock=7)
    imp = demo.create_import(data, "bad.csv")
    with pytest.raises(jobs.ImportRejected) as info:
        jobs.import_products(imp.pk)
    imp.refresh_from_db()
    assert imp.status == ProductImport.Status.REJECTED
    assert _errors(imp) == expected
    assert imp.error_count == len(expected) == info.value.error_count
    assert all(e["message"] for e in imp.errors)
    assert list(Product.objects.values_list("sku", "name", "price", "stock")) == [
        ("A", "Untouched", Decimal("9.99"), 7)
    ]


def test_one_bad_row_among_many_rejects_everything() -> None:
    data = demo.make_products_csv(1000, seed=3).replace(b"SKU-000500,", b"SKU-000500,,", 1)
    imp = _run(data)
    assert imp.status == "rejected" and _errors(imp) == [(502, None)]
    assert not Product.objects.exists()


def test_error_list_is_capped_but_counted() -> None:
    rows = "".join(f"S{i},N,bad,1\n" for i in range(jobs.MAX_STORED_ERRORS + 50))
    imp = _run(("sku,name,price,stock\n" + rows).encode())
    assert len(imp.errors) == jobs.MAX_STORED_ERRORS
    assert imp.error_count == jobs.MAX_STORED_ERRORS + 50


def test_missing_file_marks_import_failed() -> None:
    imp = demo.create_import(b"sku,name,price,stock\n", "gone.csv")
    imp.file.storage.delete(imp.file.name)
    with pytest.raises(FileNotFoundError):
        jobs.import_products(imp.pk)
    imp.refresh_from_db()
    assert imp.status == ProductImport.Status.FAILED and imp.errors


def test_ten_thousand_rows_are_fast() -> None:
    first = demo.make_products_csv(10_000, seed=1)
    second = demo.make_products_csv(10_000, seed=2)
    start = time.perf_counter()
    assert jobs.import_products(demo.create_import(first, "first.csv").pk) == {"created": 10_000, "updated": 0}
    assert jobs.import_products(demo.create_import(second, "second.csv").pk) == {"created": 0, "updated": 10_000}
    elapsed = time.perf_counter() - start
    assert Product.objects.count() == 10_000
    # The second file's values won: compare one row with the file.
    line = second.decode().splitlines()[1234]
    sku, name, price, stock = line.split(",")
    product = Product.objects.get(sku=sku)
    assert (product.name, product.price, product.stock) == (name, Decimal(price), int(stock))
    assert elapsed < 5.0, f"two 10k-row imports took {elapsed:.2f} s"


def test_make_products_csv_is_deterministic() -> None:
    assert demo.make_products_csv(50, seed=7) == demo.make_products_csv(50, seed=7)
    assert demo.make_products_csv(50, seed=7) != demo.make_products_csv(50, seed=8)
    rows, errors = jobs.parse_products_csv(demo.make_products_csv(50, seed=7))
    assert errors == [] and len(rows) == 50
