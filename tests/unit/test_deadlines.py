"""Deadlines, the watchdog's rules and the source's actions, with a clock moved by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub import events as ev
from hub.auth.sessions import Caller
from hub.clock import ManualClock
from hub.deadlines import actions
from hub.deadlines.open import OPEN, OpenDelivery, open_row
from hub.deadlines.rules import (
    DEFAULT_RECEIVER_WAIT,
    Presence,
    due,
    expiry_reason,
    receiving,
    waiting_for_receiver,
)
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.packages import decisions as decide
from hub.packages.model import DeliveryState, Package, PackageState
from hub.packages.notices import notices
from hub.packages.processor import INBOX, may_close, needs_shredding, step
from hub.registry import decisions as registry
from hub.registry.decisions import Context
from hub.registry.model import Registry
from tests.unit.test_packages import DEST, DIGEST, OTHER, SOURCE, requested

SEALED_AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DEADLINE = SEALED_AT + timedelta(hours=4)


def ctx(clock: ManualClock) -> Context:
    return Context("app", clock.now(), "corr")


def sealed(recipients: tuple[str, ...] = (DEST,), *, deadline: datetime | None = DEADLINE,
           wait: int | None = None, priority: str = "normal"
           ) -> tuple[Registry, dict[str, Caller], Package]:
    """A package sealed at SEALED_AT with one delivery planned per recipient."""
    reg, callers, pkg = requested()
    ids = {code: callers[code].app.agency_id for code in recipients}
    pkg = replace(pkg, recipients=recipients, recipient_ids=tuple(ids.values()),
                  priority=priority)
    seal = decide.seal(Context("app", SEALED_AT, "c"), pkg, [0, 1], DIGEST, deadline=deadline,
                       offline_wait_seconds=wait)
    outcome = step(pkg, seal, ids)
    current = outcome.package
    for derived in outcome.derived:
        current = step(current, derived, ids).package
    assert current is not None
    return reg, callers, current


def apply(pkg: Package, *events: ev.Event) -> Package:
    for event in events:
        after = step(pkg, event).package
        assert after is not None
        pkg = after
    return pkg


def open_of(pkg: Package, code: str = DEST) -> OpenDelivery:
    delivery = next(d for d in pkg.deliveries.values() if d.code == code)
    return OpenDelivery.from_row(dict(open_row(pkg, delivery).body))


# --- the watchdog's rules -----------------------------------------------------------------


def test_nothing_is_due_before_the_deadline_and_the_deadline_expires_it() -> None:
    reg, _, pkg = sealed()
    clock = ManualClock(DEADLINE - timedelta(seconds=1))
    assert due([open_of(pkg)], clock.now(), reg, {}) == []
    clock.advance(timedelta(seconds=1))
    (expired,) = due([open_of(pkg)], clock.now(), reg, {})
    assert (expired.reason, expired.package_id) == ("deadline", pkg.package_id)
    after = apply(pkg, expired)
    assert after.deliveries[expired.destination_agency_id].state is DeliveryState.EXPIRED
    assert after.deliveries[expired.destination_agency_id].reason == "deadline"


def test_a_delivery_without_deadline_or_wait_never_expires() -> None:
    reg, _, pkg = sealed(deadline=None)
    assert due([open_of(pkg)], SEALED_AT + timedelta(days=3650), reg, {}) == []


def test_offline_longer_than_the_wait_expires_counting_from_the_seal_without_presence() -> None:
    reg, _, pkg = sealed(deadline=None, wait=600)
    clock = ManualClock(SEALED_AT + timedelta(seconds=599))
    assert due([open_of(pkg)], clock.now(), reg, {}) == []
    clock.advance(timedelta(seconds=1))
    (expired,) = due([open_of(pkg)], clock.now(), reg, {})
    assert expired.reason == "offline"


def test_offline_counts_from_the_last_change_and_online_never_expires() -> None:
    reg, callers, pkg = sealed(deadline=None, wait=600)
    dest = callers[DEST].app.agency_id
    went_off = SEALED_AT + timedelta(minutes=30)
    clock = ManualClock(went_off + timedelta(seconds=599))
    offline = {dest: Presence(online=False, since=went_off)}
    assert due([open_of(pkg)], clock.now(), reg, offline) == []
    clock.advance(timedelta(seconds=1))
    assert [e.reason for e in due([open_of(pkg)], clock.now(), reg, offline)] == ["offline"]
    online = {dest: Presence(online=True, since=SEALED_AT - timedelta(days=1))}
    assert due([open_of(pkg)], clock.now() + timedelta(days=1), reg, online) == []


def test_a_destination_that_fetched_is_waited_for_until_the_deadline_only() -> None:
    reg, callers, pkg = sealed(wait=60)
    fetched = decide.fetched(Context("app", SEALED_AT, "c"), pkg, callers[DEST])
    assert fetched is not None
    pkg = apply(pkg, fetched)
    later = SEALED_AT + timedelta(hours=1)
    assert due([open_of(pkg)], later, reg, {}) == []
    assert [e.reason for e in due([open_of(pkg)], DEADLINE, reg, {})] == ["deadline"]


def test_presence_rows_are_read_as_the_presence_engineer_writes_them() -> None:
    row = {"agency_id": "a", "agency_code": DEST, "online": False,
           "since": "2026-11-27T09:30:00+00:00"}
    assert Presence.from_row(row) == Presence(False, SEALED_AT + timedelta(minutes=30))
    assert Presence.from_row(None) is None


def without_receiver(**kw: object) -> tuple[Registry, dict[str, Caller], Package]:
    reg, callers, pkg = sealed(**kw)  # type: ignore[arg-type]
    dest = callers[DEST].app
    assert receiving(reg, dest.agency_id) is None
    for revoked in registry.revoke_app(reg, Context("op", SEALED_AT, "c"), dest.app_id, "06"):
        reg.apply(revoked)
    assert receiving(reg, dest.agency_id) == "no_receiver"
    return reg, callers, pkg


def test_a_destination_without_a_receiving_app_is_waited_for_the_default_wait() -> None:
    """Điều 5.9: not destroyed at once — the hub waits (24 h unless the source set its
    offline wait), and only then expires the delivery as ``no_receiver``."""
    reg, _, pkg = without_receiver(deadline=None)
    assert due([open_of(pkg)], SEALED_AT, reg, {}) == []
    assert due([open_of(pkg)], SEALED_AT + DEFAULT_RECEIVER_WAIT - timedelta(seconds=1),
               reg, {}) == []
    (expired,) = due([open_of(pkg)], SEALED_AT + DEFAULT_RECEIVER_WAIT, reg, {})
    assert expired.reason == "no_receiver"
    message = notices(expired, apply(pkg, expired))[0][1]
    assert message["type"] == "delivery.expired" and message["reason"] == "no_receiver"
    assert "no approved app" in message["detail"]
    short = timedelta(minutes=5)
    assert [e.reason for e in due([open_of(pkg)], SEALED_AT + short, reg, {}, short)] == [
        "no_receiver"], "the hub's default wait is a setting"


def test_a_destination_without_a_receiving_app_is_waited_for_the_sources_offline_wait(
) -> None:
    reg, _, pkg = without_receiver(deadline=None, wait=600)
    assert due([open_of(pkg)], SEALED_AT + timedelta(seconds=599), reg, {}) == []
    (expired,) = due([open_of(pkg)], SEALED_AT + timedelta(seconds=600), reg, {})
    assert expired.reason == "no_receiver", "not 'offline': the reason the source can act on"


def test_a_destination_without_a_receiving_app_is_waited_for_no_longer_than_the_deadline(
) -> None:
    reg, _, pkg = without_receiver()
    assert due([open_of(pkg)], DEADLINE - timedelta(seconds=1), reg, {}) == []
    assert [e.reason for e in due([open_of(pkg)], DEADLINE, reg, {})] == ["no_receiver"]


def test_the_source_is_told_at_once_until_when_the_hub_waits_for_a_receiver() -> None:
    reg, callers, pkg = without_receiver(deadline=None, wait=600)
    dest = callers[DEST].app.agency_id
    assert waiting_for_receiver(pkg, reg) == {dest: SEALED_AT + timedelta(seconds=600)}
    with_app, _, same = sealed(deadline=None)
    assert waiting_for_receiver(same, with_app) == {}
    assert due([open_of(same)], SEALED_AT + timedelta(days=2), with_app, {}) == []


def test_an_unregistered_destination_fails_at_once() -> None:
    _reg, _, pkg = sealed()
    assert expiry_reason(open_of(pkg), SEALED_AT, receiving(Registry(), "ghost"), None) \
        == "unknown_destination"


def test_flash_expires_first_and_expiry_ids_are_stable_per_reopening() -> None:
    reg, _, normal = sealed(priority="normal")
    _, _, flash = sealed(priority="flash")
    found = due([open_of(normal), open_of(flash)], DEADLINE, reg, {})
    assert [e.package_id for e in found] == [flash.package_id, normal.package_id]
    again = due([open_of(normal)], DEADLINE + timedelta(hours=1), reg, {})
    assert again[0].event_id == found[1].event_id, "the same expiry has the same id"


# --- the fold, the views and shredding ----------------------------------------------------


def test_expiry_closes_the_delivery_leaves_the_views_and_triggers_shredding() -> None:
    reg, _, pkg = sealed()
    (expired,) = due([open_of(pkg)], DEADLINE, reg, {})
    outcome = step(pkg, expired)
    assert may_close(expired) and outcome.package is not None
    assert needs_shredding(outcome.package)
    assert outcome.package.state is PackageState.COMPLETED
    assert {r.view for r in outcome.writes.deletes} == {INBOX, OPEN}


def test_extend_moves_the_deadline_of_an_open_delivery() -> None:
    _, callers, pkg = sealed()
    clock = ManualClock(SEALED_AT + timedelta(hours=1))
    later = DEADLINE + timedelta(days=1)
    extended = actions.extend(ctx(clock), pkg, callers[SOURCE], DEST, later)
    after = apply(pkg, extended)
    delivery = after.deliveries[callers[DEST].app.agency_id]
    assert delivery.deadline == later.isoformat()
    assert open_of(after).deadline == later
    messages = notices(extended, after)
    assert {agency for agency, _ in messages} == {callers[SOURCE].app.agency_id,
                                                  callers[DEST].app.agency_id}


def test_an_expired_delivery_reopens_while_another_is_open_and_expires_again_apart() -> None:
    reg, callers, pkg = sealed((DEST, OTHER))
    expired = due([open_of(pkg)], DEADLINE, reg, {})[0]
    pkg = apply(pkg, expired)
    assert pkg.state is PackageState.SEALED
    later = DEADLINE + timedelta(days=1)
    clock = ManualClock(DEADLINE + timedelta(minutes=5))
    pkg = apply(pkg, actions.extend(ctx(clock), pkg, callers[SOURCE], DEST, later))
    reopened = pkg.deliveries[callers[DEST].app.agency_id]
    assert (reopened.state, reopened.generation) == (DeliveryState.PLANNED, 1)
    second = due([open_of(pkg)], later, reg, {})[0]
    assert second.event_id != expired.event_id


def test_an_expired_delivery_of_a_completed_package_cannot_reopen() -> None:
    reg, callers, pkg = sealed()
    pkg = apply(pkg, due([open_of(pkg)], DEADLINE, reg, {})[0])
    clock = ManualClock(DEADLINE + timedelta(minutes=5))
    with pytest.raises(decide.Gone) as gone:
        actions.extend(ctx(clock), pkg, callers[SOURCE], DEST, DEADLINE + timedelta(days=1))
    assert (gone.value.code, gone.value.status) == ("content_shredded", 410)


def test_redirect_closes_the_old_opens_the_new_plans_it_and_never_shreds() -> None:
    reg, callers, pkg = sealed()
    clock = ManualClock(SEALED_AT + timedelta(hours=1))
    redirected = actions.redirect(ctx(clock), reg, pkg, callers[SOURCE], from_code=DEST,
                                  to_code=OTHER)
    outcome = step(pkg, redirected)
    after = outcome.package
    assert after is not None and not needs_shredding(after)
    old, new = (after.deliveries[callers[c].app.agency_id] for c in (DEST, OTHER))
    assert old.state is DeliveryState.REDIRECTED
    assert (new.state, new.deadline) == (DeliveryState.PLANNED, DEADLINE.isoformat())
    (planned,) = outcome.derived
    assert isinstance(planned, ev.DeliveryPlanned) and planned.destination_code == OTHER
    assert step(after, planned).package is after, "the planned delivery is already there"
    assert step(pkg, redirected).derived[0].event_id == planned.event_id
    told = {agency: m["type"] for agency, m in notices(redirected, after)}
    assert told[callers[DEST].app.agency_id] == "delivery.recalled"
    with pytest.raises(decide.Gone) as gone:
        decide.fetched(ctx(clock), after, callers[DEST])
    assert gone.value.code == "delivery_redirected"
    ack = decide.acknowledge(ctx(clock), after, callers[OTHER], DIGEST)
    acknowledged = step(after, ack).package
    assert may_close(ack) and acknowledged is not None and needs_shredding(acknowledged)


def test_recall_closes_the_delivery_and_the_destination_can_no_longer_fetch() -> None:
    _, callers, pkg = sealed((DEST, OTHER))
    clock = ManualClock(SEALED_AT + timedelta(hours=1))
    (recalled,) = actions.recall(ctx(clock), pkg, callers[SOURCE], DEST, "sai địa chỉ")
    after = apply(pkg, recalled)
    assert after.deliveries[callers[DEST].app.agency_id].state is DeliveryState.RECALLED
    with pytest.raises(decide.Gone) as gone:
        decide.fetched(ctx(clock), after, callers[DEST])
    assert (gone.value.code, gone.value.status) == ("delivery_recalled", 410)
    with pytest.raises(decide.Gone):
        decide.acknowledge(ctx(clock), after, callers[DEST], DIGEST)
    rest = actions.recall(ctx(clock), after, callers[SOURCE], None, None)
    assert [r.destination_agency_id for r in rest] == [callers[OTHER].app.agency_id]
    finished = step(after, rest[0]).package
    assert may_close(rest[0]) and finished is not None
    assert needs_shredding(finished), "recalling the last open delivery finishes the package"


# --- refusals change nothing --------------------------------------------------------------


def test_only_the_source_acts_and_only_on_a_delivery_it_has() -> None:
    _, callers, pkg = sealed()
    clock = ManualClock(SEALED_AT)
    later = DEADLINE + timedelta(days=1)
    with pytest.raises(NotFound) as hidden:
        actions.extend(ctx(clock), pkg, callers[DEST], DEST, later)
    assert hidden.value.code == "package_not_found"
    with pytest.raises(NotFound) as unknown:
        actions.extend(ctx(clock), pkg, callers[SOURCE], OTHER, later)
    assert unknown.value.code == "delivery_not_found"
    with pytest.raises(NotFound):
        actions.recall(ctx(clock), None, callers[SOURCE], None, None)


@pytest.mark.parametrize("deadline", [SEALED_AT - timedelta(minutes=1),
                                      datetime(2027, 1, 1)])  # naive on purpose
def test_a_deadline_in_the_past_or_without_zone_is_refused(deadline: datetime) -> None:
    _, callers, pkg = sealed()
    with pytest.raises(InvalidRequest) as bad:
        actions.extend(ctx(ManualClock(SEALED_AT)), pkg, callers[SOURCE], DEST, deadline)
    assert bad.value.code == "invalid_deadline"


def test_an_acknowledged_delivery_cannot_be_changed() -> None:
    reg, callers, pkg = sealed((DEST, OTHER))
    clock = ManualClock(SEALED_AT)
    pkg = apply(pkg, decide.acknowledge(ctx(clock), pkg, callers[DEST], DIGEST))
    for act in (
        lambda: actions.extend(ctx(clock), pkg, callers[SOURCE], DEST, DEADLINE),
        lambda: actions.redirect(ctx(clock), reg, pkg, callers[SOURCE], from_code=DEST,
                                 to_code=SOURCE),
        lambda: actions.recall(ctx(clock), pkg, callers[SOURCE], DEST, None),
    ):
        with pytest.raises(Conflict) as refused:
            act()
        assert refused.value.code == "already_acknowledged"


def test_redirect_refuses_unknown_agencies_and_existing_recipients() -> None:
    reg, callers, pkg = sealed((DEST, OTHER))
    clock = ManualClock(SEALED_AT)
    for target in ("000.00.99.H53", "nonsense"):
        with pytest.raises(InvalidRequest) as bad:
            actions.redirect(ctx(clock), reg, pkg, callers[SOURCE], from_code=DEST, to_code=target)
        assert bad.value.code == "unknown_destination"
    for target in (OTHER, SOURCE):
        with pytest.raises(Conflict) as twice:
            actions.redirect(ctx(clock), reg, pkg, callers[SOURCE], from_code=DEST, to_code=target)
        assert twice.value.code == "already_recipient"


def test_a_closed_delivery_cannot_be_recalled_twice() -> None:
    _, callers, pkg = sealed((DEST, OTHER))
    clock = ManualClock(SEALED_AT)
    pkg = apply(pkg, *actions.recall(ctx(clock), pkg, callers[SOURCE], DEST, None))
    with pytest.raises(Conflict) as twice:
        actions.recall(ctx(clock), pkg, callers[SOURCE], DEST, None)
    assert twice.value.code == "delivery_closed"


def planned(pkg: Package, agency_id: str) -> ev.DeliveryPlanned:
    delivery = pkg.deliveries[agency_id]
    return ev.DeliveryPlanned(
        event_id="planned-1", occurred_at=SEALED_AT, actor="hub:planner",
        correlation_id=pkg.package_id, package_id=pkg.package_id,
        destination_agency_id=agency_id, destination_code=delivery.code,
        priority=pkg.priority, deadline=None)


def test_the_source_hears_live_that_a_destination_has_no_receiving_app() -> None:
    """Điều 5.9, told by WebSocket, SSE and webhook too, not only in the package's view:
    the planning of a delivery to an agency with no receiving app notifies the source."""
    reg, callers, pkg = without_receiver(deadline=None, wait=600)
    dest = callers[DEST].app.agency_id
    told = notices(planned(pkg, dest), pkg, reg)
    assert [(agency, m["type"]) for agency, m in told] == [
        (dest, "package.available"), (pkg.source_agency_id, "delivery.no_receiver")]
    message = told[1][1]
    until = (SEALED_AT + timedelta(seconds=600)).isoformat()
    assert message["destination"] == DEST and message["until"] == until
    assert message["package_id"] == pkg.package_id
    assert message["detail"].startswith(f"{DEST} has no receiving app yet")
    with_app, others, same = sealed(deadline=None)
    receiver = others[DEST].app.agency_id
    assert [m["type"] for _, m in notices(planned(same, receiver), same, with_app)] == [
        "package.available"], "a destination that can receive: nothing more to say"
    assert [m["type"] for _, m in notices(planned(pkg, dest), pkg)] == [
        "package.available"], "without the registry, nobody can tell"
