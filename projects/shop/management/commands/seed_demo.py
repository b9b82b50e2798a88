"""``manage.py seed_demo``: the deterministic demo catalogue, customers and orders (idempotent)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shop import demo


class Command(BaseCommand):
    help = "Create the demo products, customers and orders (does nothing that is already there)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=demo.DEMO_SEED, help="random seed of the demo data")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(demo.seed_demo(options["seed"]), sort_keys=True))
