"""Errors the user can act on: the command line prints them as one line, without a traceback."""

from __future__ import annotations


class BenchError(Exception):
    """Base class: a problem the user can fix (bad option, missing tool, unreachable service)."""

    #: Exit status of the command line when this error ends it.
    exit_code = 1


class UsageError(BenchError):
    """Bad command-line input: an unknown backend, profile or scenario name."""

    exit_code = 2


class ServiceError(BenchError):
    """A service the suite needs (Redis, the SMTP sink) is missing, unreachable or did not start."""


class BackendError(BenchError):
    """A backend project is misdescribed or its library/worker command is not installed."""


class UnavailableBackend(BackendError):
    """A backend that cannot run on this interpreter (its ``requires`` in backend.toml are not met): skipped."""


class AgentError(BenchError):
    """A ``python -m bench.agent`` subprocess failed; the message carries its error and the tail of its log."""
