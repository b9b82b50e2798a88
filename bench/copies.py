"""``python -m bench.copies N -- <argv...>``: run N copies of one command as one worker command line.

For a worker CLI that runs exactly one process (django-tasks-db's ``db_worker``), N real copies are what a user
runs for N processes (N systemd units, ``docker compose --scale``, a Procfile with N lines). This launcher is that,
and nothing more, so the harness can treat it like every other worker command:

- the copies run in the launcher's process group (the harness's stop and kill reach them), each with
  ``PR_SET_PDEATHSIG`` so that it gets SIGTERM if the launcher dies, even by SIGKILL;
- SIGTERM, SIGINT and SIGQUIT received by the launcher are forwarded to every copy (SIGINT only when the copies did
  not get it themselves from the terminal), so each stops the way its own command stops;
- a copy that ends is not restarted; the launcher exits once every copy has ended, with status 0 if all exited 0,
  else the first non-zero status (128 + N for a copy killed by signal N).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from bench.services import set_parent_death_signal

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _terminal_delivers_sigint() -> bool:
    # Ctrl-C in a terminal signals the whole foreground process group, the copies included: forwarding it as well
    # would be a second SIGINT, which many workers (db_worker among them) treat as "stop now, abandon the task".
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def status_of(returncode: int) -> int:
    """A child's exit status as a shell reports it (128 + N when killed by signal N)."""
    return 128 - returncode if returncode < 0 else returncode


def run_copies(count: int, argv: Sequence[str]) -> int:
    """Start ``count`` copies of ``argv``, forward stop signals to them, return once all ended (see module doc)."""
    children: list[subprocess.Popen[bytes]] = []
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if signum == signal.SIGINT and _terminal_delivers_sigint():
            return
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    try:
        for _ in range(count):
            if stopping:
                break  # asked to stop while starting: start no more
            children.append(subprocess.Popen(argv, preexec_fn=set_parent_death_signal))
    except OSError as exc:
        print(f"bench.copies: cannot start {argv[0]!r}: {exc}", file=sys.stderr)
        forward(signal.SIGTERM, None)
        for child in children:
            child.wait()
        return 127
    status = 0
    for index, child in enumerate(children):
        code = status_of(child.wait())
        if code and not status:
            status = code
        if code and not stopping:
            print(f"bench.copies: copy {index + 1} of {count} (pid {child.pid}) exited with {code}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Parse ``N -- argv...`` and run the copies; bad input is a one-line error with status 2."""
    parser = argparse.ArgumentParser(prog="python -m bench.copies", description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, help="how many copies (≥ 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command line to run")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.count < 1:
        parser.error(f"the number of copies must be ≥ 1, not {args.count}")
    if not command:
        parser.error("no command given (python -m bench.copies N -- command args...)")
    return run_copies(args.count, command)


if __name__ == "__main__":
    raise SystemExit(main())
