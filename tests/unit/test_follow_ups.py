"""What a sealed edXML package causes on other packages is recorded with its seal
(``FollowUpsDecided``) and appended by the package processor with derived ids: a crash
after the seal batch, or in the processor between its append and its tracking record,
loses no follow-up and counts none twice (issue 14)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from api.packages_service import Packages
from api.runtime import Runtime
from hub import events as ev
from hub.edxml.builder import build, build_status
from hub.edxml.model import Organ, ResponseFor, StatusPackage
from hub.packages import decisions as decide
from hub.packages import follow_ups
from hub.packages.model import Package, evolve
from hub.packages.processor import package_ref, step
from hub.ports import Position, Row, RowRef
from hub.topics import PACKAGES, record, record_all
from infra.settings import Settings
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.packages import PackageProcessor
from tests.unit.test_edxml import sample
from tests.unit.test_packages import CTX, DEST, DIGEST, LIMITS, SOURCE, delivered, send, world

NAMED = ResponseFor(SOURCE, "12/STTTT-VP", "2026-11-29", sample().document_id)


def recalled_and_reported() -> tuple[Package, list[ev.Event]]:
    """The document delivered to DEST, and two follow-ups on it: DEST's 03 and a recall."""
    callers, pkg, _ = delivered()
    dest = callers[DEST].app.agency_id
    status = decide.report_status(CTX, pkg, callers[DEST], "03", note="Đã vào sổ")
    recall = ev.DeliveryRecalled(**CTX.envelope(), package_id=pkg.package_id,
                                 destination_agency_id=dest, reason="thu hồi")
    return pkg, [status, recall]


def sealed(package_id: str) -> ev.PackageSealed:
    return ev.PackageSealed(**CTX.envelope(), package_id=package_id, size=1, sha256="00")


# --- the pure parts -------------------------------------------------------------------------


def test_a_decision_gives_back_its_effects_with_ids_derived_from_it() -> None:
    _, caused = recalled_and_reported()
    seal = sealed("status-package")
    decision = follow_ups.decided(seal, caused)
    assert decision is not None and decision.package_id == "status-package"
    assert (decision.occurred_at, decision.actor) == (seal.occurred_at, seal.actor)
    assert follow_ups.decided(seal, caused) == decision, "a seal decided again: the same"
    first, again = follow_ups.effects(decision), follow_ups.effects(decision)
    assert first == again, "the same ids every time: a step run again appends the same"
    assert [replace(e, event_id="x") for e in first] == [replace(e, event_id="x") for e in caused]
    assert len({e.event_id for e in first}) == 2
    assert not {e.event_id for e in first} & ({e.event_id for e in caused} | {decision.event_id})
    other = follow_ups.decided(sealed("status-package"), caused)  # another seal
    assert other is not None and follow_ups.effects(other)[0].event_id != first[0].event_id
    assert follow_ups.decided(sealed("nothing-caused"), []) is None


def test_only_a_status_or_a_recall_can_be_a_follow_up() -> None:
    extended = ev.ContentShredded(**CTX.envelope(), package_id="p", chunk_count=1, size=1)
    with pytest.raises(ValueError, match="not a follow-up"):
        follow_ups.decided(sealed("p"), [extended])


@pytest.mark.parametrize("text", [
    "[]", json.dumps({"type": "ContentShredded", "package_id": "p"}),
    json.dumps({"type": "DeliveryRecalled", "package_id": "p"}),
    json.dumps({"type": "DeliveryRecalled", "package_id": "p", "destination_agency_id": "a",
                "reason": "r", "event_id": "forged"}),
    json.dumps({"type": "DeliveryRecalled", "package_id": 1, "destination_agency_id": "a",
                "reason": "r"}),
])
def test_a_follow_up_that_does_not_decode_is_a_value_error(text: str) -> None:
    """The driver sets such a decision aside as a dead letter rather than stalling."""
    decision = ev.FollowUpsDecided(**CTX.envelope(), package_id="p", follow_ups=[text])
    with pytest.raises(ValueError):
        follow_ups.effects(decision)


def test_the_package_step_derives_the_effects_and_changes_nothing_else() -> None:
    _, caused = recalled_and_reported()
    decision = follow_ups.decided(sealed("status-package"), caused)
    assert decision is not None
    outcome = step(None, decision)
    assert outcome.derived == follow_ups.effects(decision)
    assert outcome.package is None and not outcome.writes.upserts


def test_the_package_fold_takes_an_effect_appended_twice_once() -> None:
    pkg, caused = recalled_and_reported()
    decision = follow_ups.decided(sealed("status-package"), caused)
    assert decision is not None
    status, _ = follow_ups.effects(decision)
    once = evolve(pkg, status)
    assert once is not None and evolve(once, status) is once
    dest = next(iter(once.deliveries))
    assert [code for code, _ in once.deliveries[dest].statuses] == ["03"]


# --- the package processor's own crash window ----------------------------------------------


class Crashed(Exception):
    """The process dies here (kill -9): nothing after this point happens."""


class CrashingOnce(SqliteProjections):
    """The tracking record of the position ``at`` is never written the first time: the
    processor appended what it derived, then died."""

    def __init__(self, db: Database, at: Position) -> None:
        super().__init__(db)
        self.at, self.crashed = at, False

    async def apply(self, tracker: str, position: Position, upserts: Sequence[Row] = (),
                    deletes: Sequence[RowRef] = (), *, last_applied: int | None = None) -> bool:
        if position == self.at and not self.crashed:
            self.crashed = True
            raise Crashed
        return await super().apply(tracker, position, upserts, deletes,
                                   last_applied=last_applied)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


async def drain(log: SqliteEventLog, processor: PackageProcessor) -> None:
    """Hands the processor every package event, again until it derives nothing new."""
    seen = -1
    while True:
        events = [r async for r in log.read(PACKAGES)]
        if len(events) == seen:
            return
        seen = len(events)
        for recorded in events:
            await processor.handle(recorded)


async def test_a_processor_killed_after_appending_a_follow_up_takes_it_once(
        db: Database) -> None:
    log, projections = SqliteEventLog(db, poll_seconds=0.05), SqliteProjections(db)
    reg, callers = world()
    requested, space = decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)
    await record_all(log, [requested, space])
    pkg = evolve(evolve(None, requested), space)
    assert pkg is not None
    await record(log, decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None,
                                  offline_wait_seconds=None))
    await drain(log, PackageProcessor(log, projections))
    delivered_pkg = await load(projections, requested.package_id)
    status = decide.report_status(CTX, delivered_pkg, callers[DEST], "03")
    decision = follow_ups.decided(sealed("status-package"), [status])
    assert decision is not None
    at = await record(log, decision)
    crashing = PackageProcessor(log, CrashingOnce(db, at))
    with pytest.raises(Crashed):
        await drain(log, crashing)
    await drain(log, PackageProcessor(log, projections))  # restarted: a fresh process
    appended = [r.event async for r in log.read(PACKAGES)
                if isinstance(r.event, ev.StatusReported)]
    after = await load(projections, requested.package_id)
    dest = callers[DEST].app.agency_id
    assert len(appended) == 2 and len({e.event_id for e in appended}) == 1
    assert [code for code, _ in after.deliveries[dest].statuses] == ["03"]


async def load(projections: SqliteProjections, package_id: str) -> Package:
    row = await projections.get(package_ref(package_id))
    assert row is not None
    return Package.from_json(dict(row.body))


# --- the API node killed right after the seal batch -----------------------------------------


def edxml(content: bytes, recipients: list[str]) -> decide.SendRequest:
    return replace(send(), recipients=recipients, data_type="edxml", size=len(content),
                   sha256=hashlib.sha256(content).hexdigest())


def killed_after_the_seal_batch(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node dies as soon as a seal's batch is in the log: nothing the call would do
    after it happens."""
    events = rt.backend.events
    append_batch = events.append_batch

    async def dying(topic: str, key: str, batch: Sequence[ev.Event]) -> Any:
        positions = await append_batch(topic, key, batch)
        if any(isinstance(e, ev.PackageSealed) for e in batch):
            raise Crashed
        return positions

    monkeypatch.setattr(events, "append_batch", dying)


async def statuses_once_shown(rt: Runtime, package_id: str, agency_id: str) -> list[str]:
    for _ in range(200):
        pkg = await Packages(rt).load(package_id)
        if pkg is not None and pkg.deliveries[agency_id].statuses:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a second copy would show by now
    pkg = await Packages(rt).load(package_id)
    assert pkg is not None
    return [code for code, _ in pkg.deliveries[agency_id].statuses]


@pytest.mark.parametrize("code", ["03", "13"])
async def test_a_node_killed_right_after_sealing_a_status_package_loses_no_status(
        code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A status 03 from the destination, a recall request 13 from the source: sealed,
    the node killed before the call could do anything more, the hub started again: the
    status is on the document it answers, once, and it is in the log once."""
    settings = Settings(data_dir=tmp_path)
    reg, callers = world()
    document = build(sample(), [])
    reporter = callers[DEST] if code == "03" else callers[SOURCE]
    status = build_status(StatusPackage(Organ(reporter.agency_code), NAMED, code, "ghi chú",
                                        "2026-11-29 10:00:00"))
    rt = await Runtime.open(settings, run_processors=True)
    try:
        rt.view.registry = reg
        sent = await Packages(rt).send(callers[SOURCE], edxml(document, [DEST]), document,
                                       None, None)
        killed_after_the_seal_batch(rt, monkeypatch)
        with pytest.raises(Crashed):
            await Packages(rt).send(reporter, edxml(status, []), status, None, None)
    finally:
        await rt.close()
    monkeypatch.undo()
    rt = await Runtime.open(settings, run_processors=True)
    try:
        rt.view.registry = reg
        shown = await statuses_once_shown(rt, sent.package_id, callers[DEST].app.agency_id)
        logged = Counter([r.event.event_id async for r in rt.backend.events.read(PACKAGES)
                          if isinstance(r.event, ev.StatusReported)])
    finally:
        await rt.close()
    assert shown == [code]
    assert len(logged) == 1
