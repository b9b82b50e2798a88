"""The network axis: at which round-trip time producer, workers and floors reach Redis, PostgreSQL,
RabbitMQ and SMTP.

``--network loopback,lan,az`` or ``--network rtt=1.5ms`` (also ``rtt=1.5ms:smtp=40ms``, ``lan:smtp=10ms``).
``loopback`` connects directly; every other network goes through the delay proxy
(:class:`bench.services.proxy.DelayProxy`), ``loopback+proxy`` at zero delay (what the proxy itself costs).
The SMTP hop has its own round trip (:data:`SMTP_RTT_MS` for ``lan``/``az``): an email provider is not in the rack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bench.errors import UsageError

#: Round trip of the SMTP hop for the named networks with a delay, in ms.
SMTP_RTT_MS = 40.0
#: A measured round trip further than this from the nominal one (relative) fails the session's premise.
RTT_TOLERANCE = 0.25


@dataclass(frozen=True)
class Network:
    """One point of the network axis: its name, whether it is proxied, and the nominal round trips in ms."""

    name: str
    rtt_ms: float = 0.0
    smtp_rtt_ms: float = 0.0
    proxied: bool = False

    @property
    def label(self) -> str:
        """Short text for progress lines and report headings."""
        if not self.proxied:
            return self.name
        smtp = f", SMTP {self.smtp_rtt_ms:g} ms" if self.smtp_rtt_ms != self.rtt_ms else ""
        return f"{self.name} ({self.rtt_ms:g} ms RTT{smtp})"

    def as_dict(self) -> dict[str, Any]:
        """The record's ``network`` field (measured values are added by the session)."""
        return {"name": self.name, "rtt_ms": self.rtt_ms, "smtp_rtt_ms": self.smtp_rtt_ms, "proxied": self.proxied}


LOOPBACK = Network("loopback")
#: The named networks of ``--network``.
NAMED: dict[str, Network] = {
    "loopback": LOOPBACK,
    "loopback+proxy": Network("loopback+proxy", 0.0, 0.0, proxied=True),
    "lan": Network("lan", 0.5, SMTP_RTT_MS, proxied=True),
    "az": Network("az", 2.0, SMTP_RTT_MS, proxied=True),
}

_DURATION = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|us|µs|s)$")
_UNITS_MS = {"ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}
#: The longest round trip accepted (a typo like 2000ms would make every window time out).
MAX_RTT_MS = 1000.0


def _duration_ms(text: str, what: str, whole: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(f"--network {whole!r}: {what} must be a duration like 1.5ms or 500us, not {text!r}")
    value = float(match["value"]) * _UNITS_MS[match["unit"]]
    if value > MAX_RTT_MS:
        raise UsageError(f"--network {whole!r}: {what} {text} is over {MAX_RTT_MS:g} ms")
    return value


def parse_network(text: str) -> Network:
    """One ``--network`` item: a name (:data:`NAMED`) or ``rtt=<duration>``, optionally ``:smtp=<duration>``."""
    head, *options = text.strip().split(":")
    if head in NAMED:
        network = NAMED[head]
    elif head.startswith("rtt="):
        rtt = _duration_ms(head.removeprefix("rtt="), "rtt", text)
        network = Network(head, rtt, SMTP_RTT_MS if rtt > 0 else 0.0, proxied=True)
    else:
        raise UsageError(f"unknown network {head!r}: valid are {', '.join(NAMED)} or rtt=<duration>[:smtp=<duration>]")
    for option in options:
        key, _, value = option.partition("=")
        if key != "smtp" or not value:
            raise UsageError(f"--network {text!r}: only smtp=<duration> may follow ':', not {option!r}")
        if not network.proxied:
            raise UsageError(f"--network {text!r}: loopback is direct; use rtt=0ms:smtp=… for a delayed SMTP hop")
        smtp = _duration_ms(value, "smtp", text)
        network = Network(f"{network.name}:smtp={value}", network.rtt_ms, smtp, proxied=True)
    return network


def parse_networks(text: str | None) -> list[Network]:
    """The comma-separated ``--network`` value (default: loopback only), duplicates dropped, order kept."""
    if text is None:
        return [LOOPBACK]
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError("--network needs at least one network, e.g. loopback,lan,az")
    networks = list(dict.fromkeys(parse_network(item) for item in items))
    names = [n.name for n in networks]
    if len(set(names)) != len(names):
        raise UsageError(f"--network {text!r}: a network name appears twice with different settings")
    return networks


def rtt_premise(network: Network, measured: dict[str, dict[str, float]]) -> list[str]:
    """Problems with the round trips the session measured through the proxy (empty: the premise holds).

    ``measured`` maps an upstream (``redis``, ``postgres``) to ``{"added_p50_us": …}``: the round trip the proxy
    added over a direct one. A network without a nominal delay has no premise (its own cost is what it measures).
    """
    if not network.proxied or network.rtt_ms <= 0:
        return []
    problems = []
    for upstream, values in measured.items():
        added_ms = values["added_p50_us"] / 1e3
        if abs(added_ms - network.rtt_ms) > RTT_TOLERANCE * network.rtt_ms:
            problems.append(
                f"{upstream}: the proxy added {added_ms:.3f} ms per round trip, not {network.rtt_ms:g} ms "
                f"(± {RTT_TOLERANCE:.0%})"
            )
    return problems
