"""The measurement channel: line format, per-process files, fork handling, read_events and Tail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shop import channel

pytestmark = pytest.mark.unit


def test_line_format_and_parse(tmp_path: Path) -> None:
    w = channel.ChannelWriter(tmp_path)
    before = channel.now_ns()
    w.write(channel.STARTED, "p-1")
    w.write(channel.FINISHED, "p-1")
    w.close()
    text = (tmp_path / f"events-{os.getpid()}.log").read_text()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 2
    kind, probe, t_ns, pid = lines[0].split(" ")
    assert (kind, probe, int(pid)) == ("S", "p-1", os.getpid())
    assert before <= int(t_ns) <= channel.now_ns()
    events = channel.read_events(tmp_path)
    assert [(e.kind, e.probe) for e in events] == [("S", "p-1"), ("F", "p-1")]
    assert events[0].t_ns <= events[1].t_ns
    assert channel.Event.parse(lines[1]).format() == lines[1] + "\n"


@pytest.mark.parametrize("bad", ["X p 1 2", "S p 1", "S p one 2", ""])
def test_parse_rejects_malformed_lines(bad: str) -> None:
    with pytest.raises(ValueError):
        channel.Event.parse(bad)


@pytest.mark.parametrize("probe", ["", "a b", "a\nb"])
def test_probe_must_be_one_field(tmp_path: Path, probe: str) -> None:
    with pytest.raises(ValueError):
        channel.ChannelWriter(tmp_path).write("S", probe)


def test_write_event_is_off_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(channel.ENV_VAR, raising=False)
    channel.write_event("S", "x")  # no directory: nothing to do, no error
    monkeypatch.setenv(channel.ENV_VAR, str(tmp_path / "ch"))
    channel.write_event("E", "x")
    assert [(e.kind, e.probe, e.pid) for e in channel.read_events(tmp_path / "ch")] == [("E", "x", os.getpid())]


def test_forked_child_writes_its_own_file(tmp_path: Path) -> None:
    w = channel.ChannelWriter(tmp_path)
    w.write("S", "parent")
    pid = os.fork()
    if pid == 0:  # child: same writer object, inherited fd
        try:
            w.write("S", "child")
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    w.write("F", "parent")
    assert (tmp_path / f"events-{pid}.log").read_text().startswith("S child ")
    parent_lines = (tmp_path / f"events-{os.getpid()}.log").read_text().splitlines()
    assert [line.split()[1] for line in parent_lines] == ["parent", "parent"]
    assert {e.pid for e in channel.read_events(tmp_path)} == {pid, os.getpid()}


def test_tail_returns_only_new_complete_lines(tmp_path: Path) -> None:
    tail = channel.Tail(tmp_path / "missing-yet")
    assert tail.poll() == []
    tail = channel.Tail(tmp_path)
    a = tmp_path / "events-100.log"
    a.write_text("S p1 10 100\nF p1 20 1")  # second line still being written
    assert [(e.kind, e.probe) for e in tail.poll()] == [("S", "p1")]
    assert tail.poll() == []
    with a.open("a") as f:
        f.write("00\nS p2 30 100\n")
    (tmp_path / "events-200.log").write_text("S q 15 200\n")
    (tmp_path / "other.txt").write_text("not an event file\n")
    new = tail.poll()
    assert sorted((e.kind, e.probe, e.pid) for e in new) == [("F", "p1", 100), ("S", "p2", 100), ("S", "q", 200)]
    assert tail.poll() == []
    # read_events ignores a trailing partial line and sorts by time.
    with a.open("a") as f:
        f.write("E p3 40")
    assert [e.t_ns for e in channel.read_events(tmp_path)] == [10, 15, 20, 30]
