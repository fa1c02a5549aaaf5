"""The package lifecycle in the domain: requests, chunks, seal, plan, deliveries, shred."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub import events as ev
from hub.auth.sessions import Caller, NotGranted
from hub.deadlines.open import OPEN
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.packages import decisions as decide
from hub.packages.decisions import Limits, SendRequest
from hub.packages.model import DeliveryState, Package, PackageState, evolve
from hub.packages.notices import notices
from hub.packages.processor import (
    INBOX,
    OUTBOX,
    may_close,
    needs_shredding,
    package_ref,
    step,
)
from hub.registry import decisions as registry
from hub.registry.decisions import Context
from hub.registry.model import Grants, Operation, Registry

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CTX = Context("app", NOW, "corr")
LIMITS = Limits(max_package_bytes=10 * 2**20, chunk_bytes=2**20, space_ttl=timedelta(hours=1))
CONTENT = b"x" * (2**20 + 5)
DIGEST = hashlib.sha256(CONTENT).hexdigest()
SOURCE, DEST, OTHER = "000.00.11.H53", "000.00.12.H53", "000.00.13.H53"


def world() -> tuple[Registry, dict[str, Caller]]:
    reg = Registry()
    callers = {}
    for code in (SOURCE, DEST, OTHER):
        reg.apply(registry.register_agency(reg, CTX, code, code, "d"))
        app = registry.register_app(reg, CTX, code, "QLVB")
        reg.apply(app)
        approved, key = registry.approve_app(reg, CTX, app.app_id,
                                             Grants(frozenset(o.value for o in Operation)))
        reg.apply(approved)
        reg.apply(key.event)
        callers[code] = Caller(reg.apps[app.app_id], reg.keys[key.event.key_id], code)
    return reg, callers


def send(recipients: list[str] | None = None, **changes: object) -> SendRequest:
    base = SendRequest(recipients or [DEST], "Công văn số 12", "urgent", "pdf", "edxml-2",
                       len(CONTENT), DIGEST)
    return replace(base, **changes)  # type: ignore[arg-type]


def requested() -> tuple[Registry, dict[str, Caller], Package]:
    reg, callers = world()
    events = decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)
    pkg = None
    for e in events:
        pkg = evolve(pkg, e)
    assert pkg is not None
    return reg, callers, pkg


def test_a_request_grants_a_space_sized_in_chunks() -> None:
    _, _, pkg = requested()
    assert pkg.state is PackageState.UPLOADING
    assert (pkg.chunk_size, pkg.chunk_count) == (2**20, 2)
    assert pkg.space_expires_at == (NOW + timedelta(hours=1)).isoformat()


def test_unknown_recipients_are_listed() -> None:
    reg, callers = world()
    with pytest.raises(InvalidRequest) as caught:
        decide.request_package(reg, callers[SOURCE], CTX, send([DEST, "000.00.99.H53", "x"]),
                               LIMITS)
    assert caught.value.code == "unknown_recipients"
    assert caught.value.extra["unknown"] == ["000.00.99.H53", "x"]


@pytest.mark.parametrize("bad", [
    {"title": ""}, {"priority": "asap"}, {"data_type": "PDF!"}, {"size": 0},
    {"size": 11 * 2**20}, {"sha256": "abc"},
])
def test_bad_requests_say_what_is_wrong(bad: dict[str, object]) -> None:
    reg, callers = world()
    with pytest.raises(InvalidRequest) as caught:
        decide.request_package(reg, callers[SOURCE], CTX, send(**bad), LIMITS)
    assert caught.value.code == "invalid_package_request"


def test_an_app_without_send_is_refused() -> None:
    reg, callers = world()
    caller = callers[SOURCE]
    receive_only = replace(caller.app, grants=Grants(frozenset({"receive"})))
    with pytest.raises(NotGranted):
        decide.request_package(reg, replace(caller, app=receive_only), CTX, send(), LIMITS)


def test_chunks_are_checked_for_range_size_and_digest() -> None:
    _, _, pkg = requested()
    last = CONTENT[2**20:]
    decide.check_chunk(pkg, 1, len(last), hashlib.sha256(last).hexdigest(),
                       hashlib.sha256(last).hexdigest())
    for index, size, declared, code in [
        (2, 5, "a" * 64, "chunk_out_of_range"),
        (0, 5, "a" * 64, "chunk_size_mismatch"),
        (1, 5, "a" * 64, "chunk_digest_mismatch"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            decide.check_chunk(pkg, index, size, declared, hashlib.sha256(last).hexdigest())
        assert caught.value.code == code


def test_uploads_are_for_the_source_and_its_open_unexpired_space() -> None:
    _, callers, pkg = requested()
    decide.own_upload(pkg, callers[SOURCE], NOW)
    with pytest.raises(NotFound):
        decide.own_upload(pkg, callers[DEST], NOW)
    with pytest.raises(decide.Gone):
        decide.own_upload(pkg, callers[SOURCE], NOW + timedelta(hours=2))


def test_seal_needs_every_chunk_and_the_declared_digest() -> None:
    _, _, pkg = requested()
    with pytest.raises(Conflict) as missing:
        decide.seal(CTX, pkg, [0], DIGEST, deadline=None, offline_wait_seconds=None)
    assert missing.value.extra["missing"] == [1]
    rejected = decide.seal(CTX, pkg, [0, 1], "0" * 64, deadline=None, offline_wait_seconds=None)
    assert isinstance(rejected, ev.PackageRejected)
    sealed = decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None, offline_wait_seconds=3600)
    assert isinstance(sealed, ev.PackageSealed)


def delivered() -> tuple[dict[str, Caller], Package, Registry]:
    reg, callers, pkg = requested()
    sealed = decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None, offline_wait_seconds=None)
    ids = {DEST: callers[DEST].app.agency_id}
    outcome = step(pkg, sealed, ids)
    assert outcome.package is not None
    current = outcome.package
    for derived in outcome.derived:
        current = step(current, derived, ids).package or current
    return callers, current, reg


def test_sealing_plans_one_delivery_per_destination_once() -> None:
    _reg, callers, pkg = requested()
    sealed = decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None, offline_wait_seconds=None)
    ids = {DEST: callers[DEST].app.agency_id}
    first, again = step(pkg, sealed, ids), step(pkg, sealed, ids)
    assert [e.event_id for e in first.derived] == [e.event_id for e in again.derived]
    assert len(first.derived) == 1
    assert first.package is not None
    planned = step(first.package, first.derived[0], ids).package
    assert planned is not None
    assert step(planned, first.derived[0], ids).package is planned, "a replay changes nothing"


def test_only_source_and_destinations_see_a_package() -> None:
    callers, pkg, _ = delivered()
    assert decide.visible(pkg, callers[SOURCE]) is pkg
    assert decide.visible(pkg, callers[DEST]) is pkg
    with pytest.raises(NotFound) as hidden:
        decide.visible(pkg, callers[OTHER])
    assert hidden.value.code == "package_not_found"
    for action in (lambda: decide.own_delivery(pkg, callers[OTHER]),
                   lambda: decide.own_delivery(pkg, callers[SOURCE])):
        with pytest.raises(NotFound):
            action()


def test_acknowledgement_checks_the_digest_once_and_completes_then_shreds() -> None:
    callers, pkg, _ = delivered()
    dest = callers[DEST]
    fetch = decide.fetched(CTX, pkg, dest)
    assert fetch is not None
    pkg = step(pkg, fetch, {}).package or pkg
    assert pkg.deliveries[dest.app.agency_id].state is DeliveryState.FETCHED
    with pytest.raises(Conflict) as wrong:
        decide.acknowledge(CTX, pkg, dest, "0" * 64)
    assert wrong.value.code == "digest_mismatch"
    ack = decide.acknowledge(CTX, pkg, dest, DIGEST)
    assert ack is not None
    outcome = step(pkg, ack, {})
    assert outcome.package is not None and may_close(ack)
    assert needs_shredding(outcome.package)
    assert outcome.package.state is PackageState.COMPLETED
    inbox_deletes = [r for r in outcome.writes.deletes if r.view == INBOX]
    assert inbox_deletes, "a closed delivery leaves the inbox"
    assert decide.acknowledge(CTX, outcome.package, dest, DIGEST.upper()) is None, \
        "a second ack with the same digest records nothing"
    with pytest.raises(Conflict) as other:
        decide.acknowledge(CTX, outcome.package, dest, "0" * 64)
    assert other.value.code == "already_acknowledged"


def test_a_rejected_package_needs_shredding_once() -> None:
    _reg, _callers, pkg = requested()
    rejected = decide.seal(CTX, pkg, [0, 1], "0" * 64, deadline=None,
                           offline_wait_seconds=None)
    assert isinstance(rejected, ev.PackageRejected) and may_close(rejected)
    after = step(pkg, rejected, {}).package
    assert after is not None and after.state is PackageState.REJECTED
    assert needs_shredding(after)
    shredded = replace(after, shredded=True)
    assert not needs_shredding(shredded)
    assert not needs_shredding(pkg), "an upload in progress keeps its content"


def test_statuses_use_the_national_codes() -> None:
    callers, pkg, _ = delivered()
    report = decide.report_status(CTX, pkg, callers[DEST], "03", note="Đã vào sổ")
    after = step(pkg, report, {}).package
    assert after is not None
    assert after.deliveries[callers[DEST].app.agency_id].statuses[0][0] == "03"
    with pytest.raises(InvalidRequest):
        decide.report_status(CTX, pkg, callers[DEST], "99")


def test_a_recall_request_13_is_the_source_s_and_15_or_16_answer_it() -> None:
    callers, pkg, _ = delivered()
    dest_id = callers[DEST].app.agency_id
    with pytest.raises(Conflict) as unasked:
        decide.report_status(CTX, pkg, callers[DEST], "15")
    assert unasked.value.code == "no_recall_requested"
    with pytest.raises(InvalidRequest) as not_dest:
        decide.report_status(CTX, pkg, callers[DEST], "13")
    assert not_dest.value.code == "status_not_yours"
    with pytest.raises(InvalidRequest) as not_source:
        decide.report_status(CTX, pkg, callers[SOURCE], "03", destination=DEST)
    assert not_source.value.code == "status_not_yours"
    with pytest.raises(InvalidRequest) as unnamed:
        decide.report_status(CTX, pkg, callers[SOURCE], "13")
    assert unnamed.value.code == "destination_required"
    with pytest.raises(NotFound):
        decide.report_status(CTX, pkg, callers[SOURCE], "13", destination=OTHER)

    recall = decide.report_status(CTX, pkg, callers[SOURCE], "13", note="Sai số hiệu",
                                  destination=DEST)
    assert (recall.agency_id, recall.destination_agency_id) == (
        callers[SOURCE].app.agency_id, dest_id)
    asked = step(pkg, recall, {}).package
    assert asked is not None and asked.deliveries[dest_id].recall_pending
    assert asked.deliveries[dest_id].statuses[-1][0] == "13"
    with pytest.raises(Conflict) as twice:
        decide.report_status(CTX, asked, callers[SOURCE], "13", destination=DEST)
    assert twice.value.code == "recall_pending"
    told = notices(recall, asked)
    assert {agency for agency, _ in told} == {callers[SOURCE].app.agency_id, dest_id}
    assert told[0][1]["destination"] == DEST and told[0][1]["reported_by"] == SOURCE

    agreed = decide.report_status(CTX, asked, callers[DEST], "15")
    answered = step(asked, agreed, {}).package
    assert answered is not None and not answered.deliveries[dest_id].recall_pending
    assert [code for code, _ in answered.deliveries[dest_id].statuses] == ["13", "15"]
    with pytest.raises(Conflict):
        decide.report_status(CTX, answered, callers[DEST], "16")


def test_a_stranger_cannot_report_or_recall() -> None:
    callers, pkg, _ = delivered()
    with pytest.raises(NotFound):
        decide.report_status(CTX, pkg, callers[OTHER], "13", destination=DEST)
    with pytest.raises(NotFound):
        decide.report_status(CTX, pkg, callers[OTHER], "01")


def test_rows_cover_package_outbox_and_inbox_and_round_trip() -> None:
    callers, pkg, _ = delivered()
    assert Package.from_json(pkg.to_json()) == pkg
    report = decide.report_status(CTX, pkg, callers[DEST], "01")
    outcome = step(pkg, report, {})
    views = {row.ref.view for row in outcome.writes.upserts}
    assert views == {"packages", OUTBOX, INBOX, OPEN}
    assert outcome.writes.upserts[0].ref == package_ref(pkg.package_id)


def test_an_ack_decided_again_on_a_stale_read_is_the_same_event() -> None:
    """A retry after its claim expired, deciding on a read model that did not show the
    first ack yet, records the same event id: the fold applies it once."""
    callers, pkg, _ = delivered()
    dest = callers[DEST]
    first, again = (decide.acknowledge(CTX, pkg, dest, DIGEST) for _ in range(2))
    assert first is not None and again is not None
    assert first.event_id == again.event_id
    acked = step(pkg, first, {}).package
    assert acked is not None and step(acked, again, {}).package is acked
    assert decide.ack_id(pkg, pkg.deliveries[dest.app.agency_id]) == first.event_id


def test_a_request_and_seal_decided_again_are_the_same_events() -> None:
    """An Idempotency-Key retry deciding again on a read model that does not show the
    first call yet records the same ids: one request, one space, one seal in the fold."""
    reg, callers, _ = requested()
    keyed = send(idempotency_key="k-1")
    first = decide.request_package(reg, callers[SOURCE], CTX, keyed, LIMITS)
    again = decide.request_package(reg, callers[SOURCE], CTX, keyed, LIMITS)
    assert [e.event_id for e in first] == [e.event_id for e in again]
    other = decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)
    assert {e.event_id for e in other}.isdisjoint(e.event_id for e in first)
    pkg = evolve(evolve(None, first[0]), first[1])
    assert pkg is not None
    seals = [decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None, offline_wait_seconds=None)
             for _ in range(2)]
    assert seals[0].event_id == seals[1].event_id
    sealed = evolve(pkg, seals[0])
    assert sealed is not None and evolve(sealed, seals[1]) is sealed
