"""flaky's attempt counter, tracked() (channel events, TaskRun rows) and the inline queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop import channel, jobs
from shop.models import TaskRun
from shop.queue import inline
from shop.tracking import tracked

pytestmark = pytest.mark.unit


def test_flaky_counts_attempts(settings) -> None:  # type: ignore[no-untyped-def]
    for expected in (1, 2):
        with pytest.raises(jobs.FlakyError):
            jobs.flaky("k1", 2)
        assert jobs.flaky_attempts("k1") == expected
    assert jobs.flaky("k1", 2) == 3
    assert jobs.flaky("k1", 2) == 4
    assert (Path(settings.SHOP_VAR_DIR) / "flaky" / "k1").read_bytes() == b"...."
    assert jobs.flaky("k0", 0) == 1
    for _ in range(3):
        with pytest.raises(jobs.FlakyError):
            jobs.flaky("forever", -1)
    assert jobs.flaky_attempts("never-run") == 0
    with pytest.raises(ValueError):
        jobs.flaky("../escape", 0)


@pytest.mark.django_db
def test_tracked_without_probe_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(channel.ENV_VAR, str(tmp_path))
    with django_assert_num_queries(0):
        with tracked("noop", None):
            pass
        with tracked("noop", "bench-1"):
            pass
    assert [(e.kind, e.probe) for e in channel.read_events(tmp_path)] == [("S", "bench-1"), ("F", "bench-1")]


def test_tracked_records_failure_and_reraises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(channel.ENV_VAR, str(tmp_path))
    with pytest.raises(KeyError), tracked("noop", "bench-2"):
        raise KeyError("boom")
    assert [e.kind for e in channel.read_events(tmp_path)] == ["S", "E"]


@pytest.mark.django_db
def test_tracked_updates_task_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(channel.ENV_VAR, str(tmp_path))
    run = TaskRun.objects.create(task_name="flaky", backend="inline")
    probe = f"run:{run.pk}"
    with pytest.raises(jobs.FlakyError), tracked("flaky", probe):
        jobs.flaky("t", 1)
    run.refresh_from_db()
    assert (run.state, run.attempts) == ("failed", 1)
    assert "FlakyError" in run.error and run.finished_at is not None
    with tracked("flaky", probe):
        assert jobs.flaky("t", 1) == 2
    run.refresh_from_db()
    assert (run.state, run.attempts, run.error) == ("succeeded", 2, "")
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert [e.kind for e in channel.read_events(tmp_path)] == ["S", "E", "S", "F"]


@pytest.mark.django_db
def test_inline_queue_applies_retry_policy(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(jobs, "RETRY_DELAY_S", 0.01)  # the policy's delay, shortened for the test
    run = TaskRun.objects.create(task_name="flaky_retry", backend="inline")
    task_id = inline.enqueue("flaky_retry", "r", 2, probe=f"run:{run.pk}")
    assert task_id
    run.refresh_from_db()
    assert (run.state, run.attempts) == ("succeeded", 3)
    # flaky_default: no retries in the shop's inline queue; the failure is recorded, not raised to the caller.
    run = TaskRun.objects.create(task_name="flaky_default", backend="inline")
    inline.enqueue("flaky_default", "d", 1, probe=f"run:{run.pk}")
    run.refresh_from_db()
    assert (run.state, run.attempts) == ("failed", 1)
    # Retries stop after MAX_RETRIES.
    run = TaskRun.objects.create(task_name="flaky_retry", backend="inline")
    inline.enqueue("flaky_retry", "never", -1, probe=f"run:{run.pk}")
    run.refresh_from_db()
    assert (run.state, run.attempts) == ("failed", 1 + jobs.MAX_RETRIES)
    with pytest.raises(LookupError):
        inline.enqueue("no_such_task")
