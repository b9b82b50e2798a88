"""The SMTP sink the shop's invoice emails go to: aiosmtpd's ``Mailbox`` handler in a subprocess, one maildir."""

from __future__ import annotations

import contextlib
import email
import email.policy
import mailbox
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Self

from bench.services.process import LOOPBACK, ManagedProcess, OneProcessService, free_port


class SmtpSink(OneProcessService):
    """aiosmtpd in a subprocess on a free 127.0.0.1 port, storing every received mail in a maildir.

    Read mail with :meth:`messages` (or any maildir reader, e.g. ``mutt -f <maildir>``).
    """

    def __init__(
        self,
        maildir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._own_dir = maildir is None
        self.maildir = Path(maildir) if maildir is not None else Path(tempfile.mkdtemp(prefix="bench-mail-")) / "mail"
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path is not None else self.maildir.parent / "smtp-sink.log"
        self.process: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"<SmtpSink 127.0.0.1:{self.port} maildir={self.maildir}>"

    def argv(self) -> list[str]:
        """The aiosmtpd command line (``-n``: do not try to setuid to nobody)."""
        return [
            sys.executable, "-m", "aiosmtpd", "-n",
            "-l", f"{LOOPBACK}:{self.port}",
            "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir),
        ]  # fmt: skip

    def start(self, timeout: float = 15.0) -> Self:
        """Start the sink and wait until it accepts connections."""
        if self.process is not None and self.process.alive():
            return self
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.maildir, create=True)  # create new/ cur/ tmp/ so readers never race the server
        self._start_listening(ManagedProcess(self.argv(), log_path=self.log_path, name="smtp-sink"), self.port, timeout)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sink; the maildir stays."""
        super().stop(timeout)

    def _keys(self) -> Iterator[tuple[float, str, Path]]:
        for sub in ("new", "cur"):
            folder = self.maildir / sub
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    if entry.is_file() and not entry.name.startswith("."):
                        yield entry.stat().st_mtime, entry.name, Path(entry.path)

    def delivery_times(self) -> list[float]:
        """When each mail was delivered (its maildir file's mtime, written at the end of the SMTP DATA), sorted."""
        return sorted(mtime for mtime, _, _ in self._keys())

    def messages(self) -> list[EmailMessage]:
        """Every mail received so far, oldest first, parsed with the modern email policy."""
        result = []
        for _, _, path in sorted(self._keys()):
            with contextlib.suppress(FileNotFoundError):
                result.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
        return result  # type: ignore[return-value]

    def count(self) -> int:
        """How many mails are in the maildir."""
        return sum(1 for _ in self._keys())

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Wait until at least ``count`` mails arrived and return all of them; :class:`TimeoutError` otherwise."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count()} of {count} mails reached the SMTP sink within {timeout} s")
            time.sleep(0.05)
        return self.messages()

    def clear(self) -> None:
        """Delete every received mail."""
        for _, _, path in list(self._keys()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def cleanup(self) -> None:
        """Stop the sink and remove its maildir if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.maildir.parent, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
