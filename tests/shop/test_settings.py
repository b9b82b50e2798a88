"""shop.settings_base reads the contract's environment variables (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from shop.models import Order

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json
from shop import settings_base as s
db = s.DATABASES["default"]
print(json.dumps({"backend": s.SHOP_BACKEND_NAME, "var": str(s.SHOP_VAR_DIR), "db_engine": db["ENGINE"],
    "db_name": str(db["NAME"]), "db_options": db.get("OPTIONS", {}), "email_port": s.EMAIL_PORT,
    "media": str(s.MEDIA_ROOT), "debug": s.DEBUG, "level": s.LOGGING["root"]["level"], "profile": s.SHOP_PROFILE,
    "has_queue": hasattr(s, "SHOP_QUEUE")}))
"""


def _settings(env: dict[str, str]) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_") and k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, "PYTHONPATH": str(REPO / "projects"), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_environment_is_read(tmp_path: Path) -> None:
    s = _settings(
        {
            "DJANGO_SETTINGS_MODULE": "shop_huey.settings",
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_SMTP_PORT": "2525",
            "SHOP_LOG_LEVEL": "info",
            "SHOP_PROFILE": "tuned",
        }
    )
    assert s["backend"] == "huey"
    assert s["var"] == str(tmp_path) and s["media"] == str(tmp_path / "media")
    assert s["db_engine"] == "django.db.backends.sqlite3" and s["db_name"] == str(tmp_path / "db.sqlite3")
    assert s["db_options"] == {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    assert (s["email_port"], s["debug"], s["level"], s["profile"], s["has_queue"]) == (
        2525,
        False,
        "INFO",
        "tuned",
        False,
    )


def test_defaults_and_database_url(tmp_path: Path) -> None:
    s = _settings({"SHOP_DATABASE_URL": "postgres://u:p@127.0.0.1:5433/shop", "SHOP_DEBUG": "1"})
    assert s["backend"] == "celery" and s["var"] == str(REPO / "var" / "celery")
    assert s["db_engine"] == "django.db.backends.postgresql" and s["db_name"] == "shop"
    assert (s["email_port"], s["debug"], s["level"], s["profile"]) == (8025, True, "WARNING", "shipped")


def test_bad_profile_fails_loudly() -> None:
    with pytest.raises(subprocess.CalledProcessError):
        _settings({"SHOP_PROFILE": "fastest", "SHOP_VAR_DIR": "/tmp"})


@pytest.mark.django_db
def test_seed_demo_command_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed_demo")
    first = json.loads(capsys.readouterr().out)
    call_command("seed_demo")
    second = json.loads(capsys.readouterr().out)
    assert first == {"customers": 20, "orders_created": 200, "products": 50}
    assert second == {"customers": 20, "orders_created": 0, "products": 50}
    assert Order.objects.count() == 200


@pytest.mark.django_db
def test_admin_lists_every_model(admin_client) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_demo")
    for model in [
        "product",
        "customer",
        "order",
        "orderline",
        "invoiceemail",
        "productimport",
        "salesreport",
        "taskrun",
    ]:
        assert admin_client.get(f"/admin/shop/{model}/").status_code == 200, model
    assert admin_client.get(f"/admin/shop/order/{Order.objects.first().pk}/change/").status_code == 200


def test_migrations_are_complete(db: None) -> None:
    call_command("makemigrations", "shop", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db  # Django 6's system checks query the database
def test_missing_queue_setting_is_a_system_check_error(settings) -> None:  # type: ignore[no-untyped-def]
    from django.core import checks

    def shop_checks() -> list[str]:
        return [m.id for m in checks.run_checks() if m.id.startswith("shop.")]

    assert shop_checks() == []
    del settings.SHOP_QUEUE
    assert shop_checks() == ["shop.E001"]
