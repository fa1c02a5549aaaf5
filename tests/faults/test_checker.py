"""The fault suite's checker on hand-made histories: it must see a loss, a double ack, a
stuck or unshredded package, and resolve an unknown outcome from the log — else a green
fault run would prove nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.client import TrucError
from faults.checker import check
from faults.history import History
from faults.load import Destination, Package
from faults.report import COUNTS, summary
from faults.storage import Logged

REPLAYS_EQUAL = {"statistics": {"exit": 0}, "history": {"exit": 0}}


def packages(n: int) -> list[Package]:
    return [Package(i, f"k{i}", Path(f"p{i}"), f"sha{i}", f"pid{i}") for i in range(n)]


def delivered(history: History, dest: Destination, p: Package) -> Logged:
    """The source was told sealed, the destination fetched and acked it: all well."""
    p.package_id = p.pid
    history.ok(history.invoke("send", p.key, "api1"), p.pid)
    history.ok(history.invoke("fetch", p.pid, "api2"), p.sha256)
    history.ok(history.invoke("ack", p.pid, "api1"))
    dest.acked[p.pid] = 1.0
    return Logged(requested={"r"}, sealed=True, planned=1, fetched=1, acks={"a"},
                  ack_records=1, shredded=True)


def run_check(ps: list[Package], history: History, dest: Destination,
              logged: dict[str, Logged], *, states: dict[str, str] | None = None,
              left: dict[str, int] | None = None) -> dict[str, Any]:
    return check(ps, history, dest, logged=logged,
                 states=states or dict.fromkeys(logged, "completed"),
                 left=left or dict.fromkeys(logged, 0), replays=REPLAYS_EQUAL)


def test_a_clean_history_passes() -> None:
    history, dest, ps = History(), Destination([], History(), 1, Path()), packages(3)
    logged = {p.pid: delivered(history, dest, p) for p in ps}
    result = run_check(ps, history, dest, logged)
    assert result["problems"] == [] and result["ok"] is True
    assert (result["sent"], result["delivered"], result["acked"]) == (3, 3, 3)


def test_a_package_sealed_but_never_acknowledged_is_lost_and_stuck() -> None:
    history, dest, ps = History(), Destination([], History(), 1, Path()), packages(2)
    logged = {ps[0].pid: delivered(history, dest, ps[0]),
              ps[1].pid: Logged(requested={"r"}, sealed=True, planned=1)}
    ps[1].package_id = ps[1].pid
    history.ok(history.invoke("send", ps[1].key, "api1"), ps[1].pid)
    states = {ps[0].pid: "completed", ps[1].pid: "sealed"}
    result = run_check(ps, history, dest, logged, states=states)
    assert result["lost"] == 1 and result["stuck"] == 1
    assert {"lost", "stuck"} <= set(result["problems"])


def test_two_acknowledgements_of_one_delivery_are_doubled() -> None:
    history, dest, ps = History(), Destination([], History(), 1, Path()), packages(1)
    logged = {ps[0].pid: delivered(history, dest, ps[0])}
    logged[ps[0].pid].acks.add("a2")
    result = run_check(ps, history, dest, logged)
    assert result["doubled"] == 1 and "doubled" in result["problems"]


def test_content_left_after_completion_is_unshredded() -> None:
    history, dest, ps = History(), Destination([], History(), 1, Path()), packages(1)
    logged = {ps[0].pid: delivered(history, dest, ps[0])}
    result = run_check(ps, history, dest, logged, left={ps[0].pid: 3})
    assert result["unshredded"] == 1 and result["problems"] == ["unshredded"]


def test_an_unknown_send_is_resolved_from_the_log_not_counted_failed() -> None:
    history, dest, ps = History(), Destination([], History(), 1, Path()), packages(2)
    logged = {ps[0].pid: delivered(history, dest, ps[0])}
    lost_answer = history.invoke("send", ps[1].key, "api2")
    history.failed(lost_answer, TrucError(503, {"code": "engine_unavailable"}))
    assert lost_answer.type == "info", "a 503 may come after the write: outcome unknown"
    logged[ps[1].pid] = Logged(requested={"r"}, sealed=True, planned=1, fetched=1,
                               acks={"a"}, ack_records=1, shredded=True)
    dest.acked[ps[1].pid] = 2.0
    result = run_check(ps, history, dest, logged)
    assert result["unknown"] == {"send_applied": 1}
    assert result["sealed"] == 2 and result["problems"] == []
    assert result["errors"] == {"503 engine_unavailable": 1}


def test_a_refusal_is_a_failure_and_a_replay_that_differs_fails_the_run() -> None:
    history, dest, ps = History(), Destination([], History(), 1, Path()), packages(1)
    logged = {ps[0].pid: delivered(history, dest, ps[0])}
    refused = history.invoke("ack", ps[0].pid, "api1")
    history.failed(refused, TrucError(409, {"code": "already_acknowledged"}))
    assert refused.type == "fail"
    result = check(ps, history, dest, logged=logged, states={ps[0].pid: "completed"},
                   left={ps[0].pid: 0},
                   replays={"statistics": {"exit": 1}, "history": {"exit": 0}})
    assert result["problems"] == ["replay statistics exit 1"]


def test_the_summary_sums_each_component_s_runs() -> None:
    def run(component: str, lost: int, recovery: float | None) -> dict[str, Any]:
        counts = dict.fromkeys(COUNTS, 1) | {"lost": lost}
        replays = {"statistics": {"exit": 0}, "history": {"exit": lost}}
        return {"component": component, "run": 1, **counts, "recovery_s": recovery,
                "drain_s": None, "replays": replays, "ok": not lost}

    lines = summary([run("kafka", 0, 12.5), run("kafka", 1, 30.0), run("api", 0, None)])
    assert lines.splitlines()[2] == ("| kafka | 2 | 2 | 2 | 2 | 1 | 2 | 2 | 2 | 2 "
                                     "| 12.5 – 30.0 | — | 1/2 | 1/2 |")
    assert lines.splitlines()[3].startswith("| api | 1 | 1 | 1 | 1 | 0 |")
