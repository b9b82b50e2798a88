"""Fixtures of the shop's unit tests: a real SMTP sink (aiosmtpd) on a free port and demo data."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from shop import demo
from shop.models import Customer, Product

# Django's test set-up swaps in the in-memory backend; these tests want the real SMTP client.
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CollectingHandler:
    """An aiosmtpd handler keeping every received message, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[CollectingHandler]:
    """A real SMTP server on 127.0.0.1; the shop's email settings point at it for the test."""
    handler = CollectingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_PORT = port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp_down(settings: Any) -> int:
    """Point the shop's email settings at a port where no SMTP server listens."""
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_PORT = free_port()
    return settings.EMAIL_PORT


@pytest.fixture
def customer(db: None) -> Customer:
    return Customer.objects.create(name="Ada Lovelace", email="ada@example.com")


@pytest.fixture
def products(db: None) -> list[Product]:
    return [
        Product.objects.create(sku="MUG-1", name="Blue Mug", price="12.50", stock=100),
        Product.objects.create(sku="LAMP-2", name="Desk Lamp", price="39.99", stock=10),
    ]


@pytest.fixture
def seeded(db: None) -> dict[str, int]:
    return demo.seed_demo()
