"""Numbers for people: every figure of the reports formatted with a unit chosen after rounding.

'1.00 ms', never '1e+03 µs'; '3,600 s', never '3.6e+03 s'. Used by the terminal summary, report.md, report.html and
``compare``.
"""

from __future__ import annotations

import math


def _three_digits(x: float) -> str:
    """At most three significant digits, never in exponent form: '1.23', '12.3', '123'."""
    if abs(x) >= 99.95:
        return f"{x:.0f}"
    if abs(x) >= 9.995:
        return f"{x:.1f}"
    return f"{x:.2f}"


def duration_ns(ns: float | None) -> str:
    """'850 ns', '12.3 µs', '1.00 ms', '2.50 s': the unit is chosen after rounding (never '1e+03 µs')."""
    if ns is None or (isinstance(ns, float) and not math.isfinite(ns)):
        return "–"
    v = float(ns)
    if abs(v) < 999.5:
        return f"{v:.0f} ns"
    for unit, scale in (("µs", 1e3), ("ms", 1e6)):
        if abs(v) / scale < 999.5:
            return f"{_three_digits(v / scale)} {unit}"
    s = v / 1e9
    return f"{_three_digits(s)} s" if abs(s) < 1000 else f"{s:,.0f} s"


def duration_s(seconds: float | None) -> str:
    """A duration given in seconds, as :func:`duration_ns` words it."""
    return "–" if seconds is None else duration_ns(seconds * 1e9)


def seconds_text(seconds: float | None) -> str:
    """A coarse duration for sentences about timeouts and due times: '43 s', '3,600 s', '4.7 s', '250 ms'.

    Whole seconds from 10 s up (a due time of 43.2 s is '43 s'), one decimal below, :func:`duration_s` under 1 s.
    """
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if abs(seconds) >= 9.95:
        return f"{seconds:,.0f} s"
    if abs(seconds) >= 0.995:
        return f"{seconds:.1f} s"
    return duration_s(seconds)


def due_text(lo: float | None, hi: float | None) -> str:
    """When stranded tasks come back: 'due now' (0 s), 'due in ~43 s', 'due in 43–60 s', 'due now to ~30 s'.

    Below half a second a due time is 'now' (never '~0 ns').
    """
    if lo is None and hi is None:
        return ""
    lo = hi if lo is None else lo
    hi = lo if hi is None else hi
    assert lo is not None and hi is not None
    if hi < 0.5:
        return "due now"
    if lo < 0.5:
        return f"due now to ~{seconds_text(hi)}"
    a, b = seconds_text(lo), seconds_text(hi)
    return f"due in ~{a}" if a == b else f"due in {a.removesuffix(' s')}–{b}"


def rate_text(per_s: float | None, unit: str = "tasks/s") -> str:
    """'12,345 tasks/s', '68.6 tasks/s'."""
    if per_s is None or not math.isfinite(per_s):
        return "–"
    return f"{per_s:,.0f} {unit}" if per_s >= 100 else f"{_three_digits(per_s)} {unit}"


def bytes_text(n: float | None) -> str:
    """'123 MiB'."""
    return "–" if n is None else f"{_three_digits(n / 2**20)} MiB"


def ratio_text(ratio: float | None) -> str:
    """'1.8×', '12×', '0.45×'."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "–"
    if ratio >= 10:
        return f"{ratio:.0f}×"
    return f"{ratio:.2g}×" if ratio < 1 else f"{ratio:.1f}×"


def format_unit(number: float | None, unit: str) -> str:
    """A figure in its unit: 'ns', 'tasks/s', 'bytes', 's', 'count', 'ratio'."""
    if number is None or (isinstance(number, float) and math.isnan(number)):
        return "–"
    if unit == "ns":
        return duration_ns(number)
    if unit == "s":
        return duration_s(number)
    if unit == "bytes":
        return bytes_text(number)
    if unit == "tasks/s":
        return rate_text(number)
    if unit == "count":
        return f"{number:.0f}"
    if unit == "ratio":
        return ratio_text(number)
    return f"{number:.4g}"


__all__ = [
    "bytes_text",
    "due_text",
    "duration_ns",
    "duration_s",
    "format_unit",
    "rate_text",
    "ratio_text",
    "seconds_text",
]
