"""Signal dispositions for the processes a test starts and then signals.

A job started in the background by a non-interactive shell (``nox -s tests > log 2>&1 &``, a CI step) begins with
SIGINT and SIGQUIT ignored, and an ignored disposition survives ``fork`` and ``exec``. Python then installs no
``KeyboardInterrupt`` handler, so a harness under test would never see the Ctrl-C a test sends it. Tests that
signal a process they start pass ``preexec_fn=default_signal_dispositions`` to give it a user's terminal defaults.
"""

from __future__ import annotations

import signal

#: The signals a test sends (SIGKILL cannot be ignored) plus SIGQUIT, which shells ignore along with SIGINT.
RESET = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)


def default_signal_dispositions() -> None:
    """Runs in the child between fork and exec: every signal a test sends gets its default disposition back."""
    for signum in RESET:
        signal.signal(signum, signal.SIG_DFL)
