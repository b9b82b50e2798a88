"""The measurement channel: task start/finish events written outside the broker.

Django-free on purpose (the harness imports it). Each process appends to its own file
``<dir>/events-<pid>.log``, opened with ``O_APPEND``; every event is one ``os.write`` of one line, so an event that
was written survives a SIGKILL of the writer and nothing here touches the broker. Line format::

    <kind> <probe> <t_ns> <pid>\\n

``kind`` is ``S`` (attempt started), ``F`` (attempt finished), ``E`` (attempt raised) or ``C`` (the backend itself
confirmed the task done: written from the library's own completion hook -- result stored, message acked, row
final -- by each backend project, see ``bench/contract.py``); ``t_ns`` is
``time.clock_gettime_ns(CLOCK_MONOTONIC)``, system-wide on Linux and so comparable across processes.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

STARTED = "S"
FINISHED = "F"
ERROR = "E"
CONFIRMED = "C"
KINDS = frozenset({STARTED, FINISHED, ERROR, CONFIRMED})

ENV_VAR = "SHOP_CHANNEL_DIR"
FILE_PREFIX = "events-"
FILE_SUFFIX = ".log"


def now_ns() -> int:
    """The channel's clock: monotonic, system-wide on Linux."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the channel."""

    kind: str
    probe: str
    t_ns: int
    pid: int

    @classmethod
    def parse(cls, line: str) -> Event:
        """Parse one line (without or with its newline); raises ``ValueError`` on a malformed line."""
        parts = line.split()
        if len(parts) != 4 or parts[0] not in KINDS:
            raise ValueError(f"malformed channel line: {line!r}")
        return cls(kind=parts[0], probe=parts[1], t_ns=int(parts[2]), pid=int(parts[3]))

    def format(self) -> str:
        """The line for this event, newline included."""
        return f"{self.kind} {self.probe} {self.t_ns} {self.pid}\n"


def _check_probe(probe: str) -> None:
    # A probe is one field of a space-separated line.
    if not probe or any(c.isspace() for c in probe):
        raise ValueError(f"a channel probe must be non-empty and contain no whitespace: {probe!r}")


class ChannelWriter:
    """Appends events to ``<directory>/events-<pid>.log``; opened lazily, re-opened in a forked child."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _open(self, pid: int) -> int:
        with self._lock:
            if self._fd is not None and self._pid == pid:
                return self._fd
            if self._fd is not None:
                # Inherited from the parent across fork: keep the parent's file untouched, write our own.
                os.close(self._fd)
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{FILE_PREFIX}{pid}{FILE_SUFFIX}"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            self._pid = pid
            return self._fd

    def write(self, kind: str, probe: str, t_ns: int | None = None) -> None:
        """Append one event now (or at ``t_ns``)."""
        if kind not in KINDS:
            raise ValueError(f"unknown channel event kind {kind!r}")
        _check_probe(probe)
        pid = os.getpid()
        fd = self._fd if self._pid == pid and self._fd is not None else self._open(pid)
        t = now_ns() if t_ns is None else t_ns
        os.write(fd, f"{kind} {probe} {t} {pid}\n".encode())

    def close(self) -> None:
        """Close this process's file (a later write re-opens it)."""
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
            self._pid = None


_writers: dict[str, ChannelWriter] = {}


def writer() -> ChannelWriter | None:
    """The writer for ``$SHOP_CHANNEL_DIR``, or ``None`` when the channel is off."""
    directory = os.environ.get(ENV_VAR)
    if not directory:
        return None
    w = _writers.get(directory)
    if w is None:
        w = _writers.setdefault(directory, ChannelWriter(directory))
    return w


def write_event(kind: str, probe: str) -> None:
    """Append one event to ``$SHOP_CHANNEL_DIR``; does nothing when the channel is off."""
    w = writer()
    if w is not None:
        w.write(kind, probe)


def _event_files(directory: Path) -> list[Path]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return sorted(
        Path(e.path) for e in entries if e.name.startswith(FILE_PREFIX) and e.name.endswith(FILE_SUFFIX) and e.is_file()
    )


def read_events(directory: str | os.PathLike[str]) -> list[Event]:
    """Every complete event in ``directory``, ordered by time (a trailing partial line is ignored)."""
    events: list[Event] = []
    for path in _event_files(Path(directory)):
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        events.extend(Event.parse(line) for line in complete.decode().splitlines() if line)
    events.sort(key=lambda e: (e.t_ns, e.pid))
    return events


class Tail:
    """Incremental reader: each :meth:`poll` returns the complete lines written since the previous call.

    Follows every ``events-*.log`` file of the directory, including files that appear later. A line still being
    written (no newline yet) is held back until it is complete.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}

    def poll(self) -> list[Event]:
        """New complete events since the last call, in file order per file (not globally sorted)."""
        events: list[Event] = []
        for path in _event_files(self.directory):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                continue
            if not data:
                continue
            self._offsets[path] = offset + len(data)
            data = self._partial.pop(path, b"") + data
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                self._partial[path] = data[cut:]
            events.extend(Event.parse(line) for line in data[:cut].decode().splitlines() if line)
        return events

    __call__ = poll
