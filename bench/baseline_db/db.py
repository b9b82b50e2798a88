"""The database floor's table and connections (SQLite with the shop's pragmas, or PostgreSQL through psycopg)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

TABLE = "bench_baseline_queue"
#: The shop's SQLite settings (shop.settings_base): WAL, synchronous=NORMAL, a 30 s busy timeout.
SQLITE_TIMEOUT_S = 30.0


def database_url() -> str | None:
    """``SHOP_DATABASE_URL`` when set (PostgreSQL), else ``None`` (SQLite in ``SHOP_VAR_DIR``)."""
    return os.environ.get("SHOP_DATABASE_URL") or None


def sqlite_path() -> Path:
    """The floor's own SQLite file, beside the shop's database in ``SHOP_VAR_DIR``."""
    var_dir = Path(os.environ["SHOP_VAR_DIR"])
    var_dir.mkdir(parents=True, exist_ok=True)
    return var_dir / "db-baseline.sqlite3"


def is_postgres() -> bool:
    """Whether the floor runs on PostgreSQL (a ``postgres://``/``postgresql://`` URL)."""
    url = database_url()
    return url is not None and url.split(":", 1)[0] in ("postgres", "postgresql")


def connect() -> Any:
    """A connection in autocommit mode (transactions are explicit); the table exists when it returns."""
    if database_url() is not None and not is_postgres():
        raise SystemExit(f"db-baseline: SHOP_DATABASE_URL must be a postgres:// URL, got {database_url()!r}")
    if is_postgres():
        import psycopg

        conn = psycopg.connect(database_url(), autocommit=True)
        with contextlib.suppress(psycopg.errors.UniqueViolation):  # two processes creating it at once
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        return conn
    conn = sqlite3.connect(sqlite_path(), timeout=SQLITE_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
    return conn


def placeholder() -> str:
    """The driver's parameter marker."""
    return "%s" if is_postgres() else "?"
