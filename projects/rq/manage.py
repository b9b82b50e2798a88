#!/usr/bin/env python
"""Django's command-line utility for the rq project of the shop."""

import os
import sys


def main() -> None:
    """Run administrative tasks with this project's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_rq.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
