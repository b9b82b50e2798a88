"""DB statements: per Django backend and profile, the statements, write commits and new connections its
integration sends to the database per noop task. Counted outside the sessions, by the command line after them
(``bench/db_statements.py``, ``count_db_statements`` in ``bench/__main__.py``), on a private PostgreSQL cluster that
logs every statement; this is its registry entry."""

from __future__ import annotations

from bench.scenarios.unit import Scenario

#: How it is measured, for the report's Method section (``{key}``: the run's preset value of that key).
METHOD = (
    "Counted once per Django backend and profile after the performance sessions, whenever the run has the "
    "throughput scenario: the backend's real workers ({default_processes} processes) on a private PostgreSQL "
    "cluster of their own that logs every statement and connection (log_statement=all, log_connections=on), "
    "producer and workers told apart by their libpq application_name. 20 noops warm up, then 100 noop tasks are "
    "enqueued and drained (to the backend's own done, then 2 s for late writers); every statement, BEGIN/COMMIT "
    "and new connection in that window is counted per task, minus an idle window of the same length (pollers, "
    "heartbeats). A write commit is a committed INSERT/UPDATE/DELETE, inside a transaction or on its own "
    "(autocommit). Counts, not timings: the log costs time itself, so none of the run's timings come from this "
    "cluster. A profile a backend declares the same configuration as another is counted once."
)


SCENARIO = Scenario(
    name="db_statements",
    description="database statements, write commits and new connections per noop task, per Django backend and "
    "profile (a counting pass after the sessions, on a PostgreSQL cluster logging every statement)",
    run=None,  # counted by the command line after the sessions
    in_session=False,
    preset_keys=(),
    method=METHOD,
    section="bench.report.sections.db_statements",
    derived=("bench.report.derived.db_statements", "bench.report.derived.db_write_commits"),
)
