"""Presence rules, with a clock moved by hand: what a node records, how the fold counts
online and offline, when the watchdog declares a node's connections lost, who may read."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hub import events as ev
from hub.clock import ManualClock
from hub.deadlines.rules import Presence
from hub.ports import Row
from hub.presence import queries, watchdog
from hub.presence.model import (
    HISTORY,
    INDEX,
    NODES,
    OPEN,
    PRESENCE,
    AgencyPresence,
    Connection,
    history_key,
    index_ref,
    stamp,
    step,
    summary_ref,
)
from hub.presence.tracker import (
    API,
    CLOSED,
    NODE_SHUTDOWN,
    SILENCE,
    NodePresence,
    Who,
)
from hub.registry.model import Agency, App, AppState, Grants

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
BEAT = timedelta(seconds=30)
ALICE = Who("ag-1", "000.00.01.H53", "app-1")
BOB = Who("ag-1", "000.00.01.H53", "app-2")


def node(clock: ManualClock, name: str = "n1:8080") -> NodePresence:
    ids = (f"c{i}" for i in itertools.count(1))
    return NodePresence(name, BEAT, clock.now(), ids=lambda: next(ids))


# --- one node ------------------------------------------------------------------------


def test_a_stream_connects_and_disconnects_with_the_same_connection_id() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    cid, opened = here.open(ALICE, "websocket", clock.now())
    clock.advance(timedelta(minutes=5))
    closed = here.close(cid, CLOSED, clock.now())
    assert opened.channel == "websocket" and opened.node == "n1:8080"
    assert closed is not None and closed.correlation_id == opened.correlation_id == cid
    assert closed.reason == CLOSED and closed.occurred_at == T0 + timedelta(minutes=5)
    assert here.close(cid, CLOSED, clock.now()) is None  # closing twice says nothing


def test_signed_calls_record_one_connect_then_a_disconnect_after_the_silence() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    first = here.called(ALICE, clock.now())
    assert first is not None and first.channel == API
    clock.advance(timedelta(seconds=20))
    assert here.called(ALICE, clock.now()) is None  # no event per call
    clock.advance(timedelta(seconds=29))
    assert here.sweep(clock.now()) == []  # 29 s since the last call: still online
    clock.advance(timedelta(seconds=1))
    [gone] = here.sweep(clock.now())
    assert gone.reason == SILENCE and gone.correlation_id == first.correlation_id
    again = here.called(ALICE, clock.now())
    assert again is not None and again.correlation_id != first.correlation_id


def test_an_app_holding_a_stream_is_not_connected_again_by_its_calls() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    here.open(ALICE, "sse", clock.now())
    assert here.called(ALICE, clock.now()) is None
    assert here.called(BOB, clock.now()) is not None


def test_a_stream_that_stops_answering_is_silent_after_the_interval() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    cid, _ = here.open(ALICE, "websocket", clock.now())
    clock.advance(timedelta(seconds=15))
    here.heard(cid, clock.now())  # a pong
    clock.advance(timedelta(seconds=29))
    assert not here.silent(cid, clock.now())
    clock.advance(timedelta(seconds=1))
    assert here.silent(cid, clock.now())
    assert here.sweep(clock.now()) == []  # streams are closed by their route, not the sweep


def test_a_node_stopping_ends_every_connection_it_holds() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    here.open(ALICE, "websocket", clock.now())
    here.called(BOB, clock.now())
    ended = here.shutdown(clock.now())
    assert sorted(e.app_id for e in ended) == ["app-1", "app-2"]
    assert {e.reason for e in ended} == {NODE_SHUTDOWN}
    assert here.sessions == 0


def test_a_node_beats_with_its_start_time_and_interval() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    clock.advance(timedelta(minutes=1))
    beat = here.beat(clock.now())
    assert beat.started_at == T0 and beat.occurred_at == T0 + timedelta(minutes=1)
    assert beat.interval_ms == 30_000 and beat.node == "n1:8080"


# --- the fold -------------------------------------------------------------------------


def fold(events: list[ev.Event], state: AgencyPresence | None = None,
         opened: dict[str, Connection] | None = None
         ) -> tuple[AgencyPresence | None, list[Row]]:
    """Folds like the processor: the state, and the open connection each event names."""
    rows: list[Row] = []
    opened = {} if opened is None else opened
    for event in events:
        outcome = step(state, opened.get(event.correlation_id), event)
        state = outcome.state
        rows.extend(outcome.writes.upserts)
        for row in outcome.writes.upserts:
            if row.ref.view == OPEN:
                opened[row.ref.key] = Connection.from_json(row.body)
        for ref in outcome.writes.deletes:
            opened.pop(ref.key, None)
    return state, rows


def open_of(events: list[ev.Event]) -> dict[str, list[Connection]]:
    """The ``presence_by_node`` view after ``events``."""
    opened: dict[str, Connection] = {}
    fold(events, opened=opened)
    by_node: dict[str, list[Connection]] = {}
    for conn in opened.values():
        by_node.setdefault(conn.node, []).append(conn)
    return by_node


def latest(rows: list[Row], view: str, key: str) -> dict[str, Any]:
    return dict([r for r in rows if r.ref.view == view and r.ref.key == key][-1].body)


def test_the_agency_is_online_from_its_first_connection_to_its_last_disconnection() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    c1, e1 = here.open(ALICE, "websocket", clock.now())
    clock.advance(timedelta(minutes=1))
    e2 = here.called(BOB, clock.now())
    clock.advance(timedelta(minutes=1))
    e3 = here.close(c1, CLOSED, clock.now())
    assert e2 is not None and e3 is not None
    state, rows = fold([e1, e2, e3])
    summary = latest(rows, PRESENCE, "")
    assert summary["online"] is True and summary["since"] == stamp(T0)
    assert summary["apps_online"] == ["app-2"] and summary["agency_code"] == ALICE.agency_code
    assert summary["connections"] == 1 and summary["nodes"] == ["n1:8080"]
    alice = latest(rows, PRESENCE, "app-1")
    assert alice["online"] is False and alice["since"] == stamp(T0 + timedelta(minutes=2))
    bob = latest(rows, PRESENCE, "app-2")
    assert bob["channels"] == {"api": 1} and bob["nodes"] == {"n1:8080": 1}
    [e4] = here.shutdown(clock.now() + timedelta(minutes=1))
    state, rows = fold([e1, e2, e3, e4])
    summary = latest(rows, PRESENCE, "")
    assert summary["online"] is False and summary["since"] == stamp(T0 + timedelta(minutes=3))
    assert state is not None and not state.online


def test_history_lists_each_connect_and_disconnect_with_its_duration() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    cid, opened = here.open(ALICE, "websocket", clock.now())
    clock.advance(timedelta(seconds=90))
    closed = here.close(cid, CLOSED, clock.now())
    assert closed is not None
    _, rows = fold([opened, closed])
    history = [dict(r.body) for r in rows if r.ref.view == HISTORY]
    assert [h["kind"] for h in history] == ["connected", "disconnected"]
    assert history[1]["duration_seconds"] == 90.0 and history[1]["reason"] == CLOSED
    assert history[1]["connected_at"] == stamp(T0) and history[1]["channel"] == "websocket"
    keys = [r.ref.key for r in rows if r.ref.view == HISTORY]
    assert keys == sorted(keys)


def test_repeated_and_unknown_events_change_nothing() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    cid, opened = here.open(ALICE, "websocket", clock.now())
    closed = here.close(cid, CLOSED, clock.now())
    assert closed is not None
    state, rows = fold([opened])
    conn = Connection.from_json(latest(rows, OPEN, cid))
    assert step(state, conn, opened).writes.upserts == ()  # the same connect again
    assert step(None, None, closed).writes.upserts == ()  # a disconnect of nothing open
    after, _ = fold([opened, closed])
    assert step(after, None, closed).writes.upserts == ()  # declared lost twice


def test_many_connections_keep_every_row_small() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    events = [here.open(ALICE, "websocket", clock.now())[1] for _ in range(500)]
    _, rows = fold(events)
    last = rows[-len(rows) // 500:]
    assert max(len(str(r.body)) for r in last) < 1000
    assert latest(rows, PRESENCE, "")["connections"] == 500


def test_the_contract_row_other_processors_read() -> None:
    clock = ManualClock(T0)
    _, opened = node(clock).open(ALICE, "sse", clock.now())
    _, rows = fold([opened])
    [summary] = [r for r in rows if r.ref == summary_ref("ag-1")]
    assert summary.ref.view == "presence" and summary.ref.partition == "ag-1"
    assert summary.ref.key == ""
    assert {"agency_id", "agency_code", "online", "since"} <= set(summary.body)
    assert datetime.fromisoformat(summary.body["since"].replace("Z", "+00:00")) == T0
    assert Presence.from_row(summary.body) == Presence(True, T0), "as the deadline rules read it"
    assert Presence.from_row({**summary.body, "since": None}) is None


def test_state_survives_its_json_row() -> None:
    clock = ManualClock(T0)
    _, opened = node(clock).open(ALICE, "sse", clock.now())
    state, rows = fold([opened])
    [index] = [r for r in rows if r.ref == index_ref("ag-1")]
    assert index.ref.view == INDEX
    assert AgencyPresence.from_json(dict(index.body)) == state
    conn = Connection.from_json(latest(rows, OPEN, opened.correlation_id))
    assert Connection.from_json(conn.to_json()) == conn


def test_a_heartbeat_projects_the_node_row() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    outcome = step(None, None, here.beat(clock.now()))
    [row] = outcome.writes.upserts
    assert row.ref.view == NODES and row.body["last_beat"] == stamp(T0)


# --- the watchdog ---------------------------------------------------------------------


def nodes_after(here: NodePresence, at: datetime) -> dict[str, watchdog.NodeBeat]:
    row = step(None, None, here.beat(at)).writes.upserts[0]
    return {here.node: watchdog.NodeBeat.from_json(dict(row.body))}


def test_connections_of_a_node_that_stops_beating_are_lost_after_n_missed_beats() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    _, opened = here.open(ALICE, "websocket", clock.now())
    held = open_of([opened])
    beats = nodes_after(here, T0)
    clock.advance(BEAT * 3)
    assert watchdog.lost(held, beats, clock.now(), 3) == []
    clock.advance(timedelta(seconds=1))
    [lost] = watchdog.lost(held, beats, clock.now(), 3)
    assert lost.reason == watchdog.NODE_LOST and lost.correlation_id == opened.correlation_id
    assert lost.agency_id == ALICE.agency_id and lost.node == here.node
    assert lost.occurred_at == T0  # the node's last beat, not when it was noticed
    again = watchdog.lost(held, beats, clock.now(), 3)
    assert again[0].event_id == lost.event_id  # said twice, the same fact
    after, rows = fold([opened, lost])
    assert after is not None and not after.online
    history = sorted((r for r in rows if r.ref.view == HISTORY), key=lambda r: r.ref.key)
    assert [r.body["kind"] for r in history] == ["connected", "disconnected"], \
        "lost at the very moment it opened: still listed after its connect"


def test_a_connect_sorts_before_a_disconnect_of_the_same_millisecond() -> None:
    at = stamp(T0)
    assert history_key({"at": at, "kind": "connected"}, "ffff") < \
        history_key({"at": at, "kind": "disconnected"}, "0000")
    assert history_key({"at": stamp(T0 + timedelta(milliseconds=1)), "kind": "connected"},
                       "0000") > history_key({"at": at, "kind": "disconnected"}, "ffff")


def test_a_restarted_node_loses_what_its_previous_run_held() -> None:
    clock = ManualClock(T0)
    before = node(clock)
    _, opened = before.open(ALICE, "websocket", clock.now())
    clock.advance(timedelta(seconds=5))
    restarted = node(clock)
    _, fresh = restarted.open(BOB, "websocket", clock.now())
    [lost] = watchdog.lost(open_of([opened, fresh]), nodes_after(restarted, clock.now()),
                           clock.now(), 3)
    assert lost.correlation_id == opened.correlation_id
    assert lost.occurred_at == T0 + timedelta(seconds=5)  # the restart


def test_a_live_node_loses_nothing() -> None:
    clock = ManualClock(T0)
    here = node(clock)
    _, opened = here.open(ALICE, "sse", clock.now())
    clock.advance(timedelta(hours=1))
    assert watchdog.lost(open_of([opened]), nodes_after(here, clock.now()), clock.now(),
                         3) == []


# --- reading --------------------------------------------------------------------------


def agency(code: str, agency_id: str) -> Agency:
    return Agency(agency_id, code, f"Sở {code}", None, f"{code}@truc.local", T0)


def app(agency_id: str, operations: set[str], destinations: frozenset[str] = frozenset()
        ) -> App:
    return App("app-x", agency_id, "QLVB", AppState.APPROVED, T0,
               grants=Grants(frozenset(operations), destinations))


def test_apps_see_their_own_agency_and_those_they_may_send_to() -> None:
    own, other, third = agency("A", "ag-a"), agency("B", "ag-b"), agency("C", "ag-c")
    sender = app("ag-a", {"send"}, frozenset({"B"}))
    receiver = app("ag-a", {"receive"})
    assert queries.may_see(sender, own) and queries.may_see(sender, other)
    assert not queries.may_see(sender, third)
    assert queries.may_see(receiver, own) and not queries.may_see(receiver, other)
    assert queries.may_see(app("ag-a", {"send"}), third)  # no destination list: any


def test_history_bounds_are_inclusive_then_exclusive_and_need_a_zone() -> None:
    rows = [{"at": stamp(T0 + timedelta(hours=h))} for h in range(4)]
    lower = queries.parse_bound((T0 + timedelta(hours=1)).isoformat(), "from")
    upper = queries.parse_bound("2026-11-27T10:00:00Z", "to")
    assert [r["at"] for r in queries.history_between(rows, lower, upper)] == \
        [stamp(T0 + timedelta(hours=1))]
    for bad in ("yesterday", "2026-11-27T08:00:00"):
        try:
            queries.parse_bound(bad, "from")
        except queries.InvalidRequest as refused:
            assert refused.code == "invalid_time"
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_the_listing_shows_never_seen_agencies_offline() -> None:
    clock = ManualClock(T0)
    _, opened = node(clock).open(ALICE, "sse", clock.now())
    _, rows = fold([opened])
    index = {r.ref.key: r.body for r in rows if r.ref.view == INDEX}
    shown = queries.listing([agency("Z", "ag-z"), agency(ALICE.agency_code, "ag-1")], index)
    assert [(s["agency_code"], s["online"]) for s in shown] == \
        [(ALICE.agency_code, True), ("Z", False)]
    assert "app_since" not in shown[0] and shown[1]["since"] is None
