"""The benchmark harness for Django task queues (Celery, django-q2, Dramatiq, Huey).

The harness never imports Django: it starts each backend's processes (web server, workers, ``bench.agent``) as
subprocesses with the environment built by :meth:`bench.backends.Backend.environment`.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECTS_DIR = REPO_ROOT / "projects"

# The harness reads the measurement channel with ``shop.channel`` (Django-free); ``shop`` lives in projects/ and is
# not an installed distribution, so make it importable however the harness was started.
if str(PROJECTS_DIR) not in sys.path:
    sys.path.append(str(PROJECTS_DIR))
