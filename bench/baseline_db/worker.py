"""Consumer side of the database floor: N processes, each taking one row at a time.

One transaction per task: take the oldest row (PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``, so workers never
wait for each other's rows; SQLite: ``BEGIN IMMEDIATE``, the single writer), run the task, ``DELETE`` the row,
``COMMIT``, then write the confirmed event. An idle worker polls every ``--interval`` seconds (default 10 ms: a floor
should not hide the database behind a long sleep; db_worker's default is 1 s).

``python -m bench.baseline_db.worker --processes N``; SIGTERM or SIGINT stops every process after its current task.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.baseline_db.db import TABLE, connect, is_postgres, placeholder
from bench.floor_worker import run_consumers, stop_requested
from shop import channel
from shop.tracking import tracked


def consume(interval_s: float) -> None:
    """One worker process: take, run (noop), delete, commit; record start/finish/confirmed on the channel."""
    conn = connect()
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    select = f"SELECT id, payload FROM {TABLE} ORDER BY id LIMIT 1{lock}"
    delete = f"DELETE FROM {TABLE} WHERE id = {placeholder()}"
    begin = "BEGIN" if is_postgres() else "BEGIN IMMEDIATE"
    while not stop_requested():
        conn.execute(begin)
        try:
            row = conn.execute(select).fetchone()
            if row is None:
                conn.execute("COMMIT")
                time.sleep(interval_s)
                continue
            message = json.loads(row[1])
            with tracked(message["task"], message["probe"]):
                pass  # the noop task
            conn.execute(delete, (row[0],))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if message["probe"] is not None:
            channel.write_event(channel.CONFIRMED, message["probe"])


def main() -> None:
    """Create the table, start the consumer processes and wait for them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.01, help="idle poll interval in seconds")
    options = parser.parse_args()
    connect().close()  # the table exists before the workers race to create it
    run_consumers(options.processes, consume, options.interval)


if __name__ == "__main__":
    main()
