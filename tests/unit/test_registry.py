"""The registry: agencies, the app lifecycle, keys, operators — decisions and the fold."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import audit
from hub.auth.sessions import AGENCY_REMOVED, APP_REVOKED, KEY_EXPIRED, KEY_REVOKED, lapsed
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.events import AuditLinked, Event
from hub.ports import Position, Recorded
from hub.registry import decisions as decide
from hub.registry.decisions import Context
from hub.registry.model import AppState, Grants, Operation, Operator, Registry, Role
from hub.registry.service import RegistryService
from hub.registry.sync import NationalAgency
from hub.registry.view import RegistryView
from hub.topics import REGISTRY
from infra.crypto import MasterKeyWrapper
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.stores import SqliteKeyStore
from streams.runner import follow

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CTX = Context(actor="op-test", now=NOW, correlation_id="c-1")
ALL_OPS = Grants(frozenset(op.value for op in Operation))


def registry_with_app(rsa: str | None = None) -> tuple[Registry, str]:
    reg = Registry()
    reg.apply(decide.register_agency(reg, CTX, "000.00.11.H53", "Sở TT&TT", "hcm.gov.vn"))
    app = decide.register_app(reg, CTX, "000.00.11.H53", "QLVB", rsa)
    reg.apply(app)
    return reg, app.app_id


def test_agency_gets_parent_and_account() -> None:
    event = decide.register_agency(Registry(), CTX, "000.00.11.h53", "Sở", "hcm.gov.vn")
    assert event.code == "000.00.11.H53"
    assert event.parent_code == "000.00.00.H53"
    assert event.account == "000.00.11.H53@hcm.gov.vn"


def test_a_code_is_registered_once() -> None:
    reg, _ = registry_with_app()
    with pytest.raises(Conflict) as caught:
        decide.register_agency(reg, CTX, "000.00.11.H53", "again", "d")
    assert caught.value.code == "agency_exists"


def test_apps_need_a_known_agency() -> None:
    with pytest.raises(NotFound):
        decide.register_app(Registry(), CTX, "000.00.11.H53", "QLVB")


def test_app_lifecycle_registered_approved_revoked() -> None:
    reg, app_id = registry_with_app()
    assert reg.apps[app_id].state is AppState.REGISTERED
    approved, issued = decide.approve_app(reg, CTX, app_id, ALL_OPS)
    reg.apply(approved)
    reg.apply(issued.event)
    assert reg.apps[app_id].state is AppState.APPROVED
    assert issued.secret and issued.event.algorithm == "HMAC"
    assert reg.key(issued.event.access_key) is not None
    with pytest.raises(Conflict):
        decide.approve_app(reg, CTX, app_id, ALL_OPS)
    for event in decide.revoke_app(reg, CTX, app_id, "form 06"):
        reg.apply(event)
    assert reg.apps[app_id].state is AppState.REVOKED
    key = reg.key(issued.event.access_key)
    assert key is not None and key.revoked and not key.valid_at(NOW)
    with pytest.raises(Conflict):
        decide.revoke_app(reg, CTX, app_id, "twice")


def test_rsa_apps_get_no_secret() -> None:
    reg, app_id = registry_with_app(rsa="-----BEGIN PUBLIC KEY-----...")
    _, issued = decide.approve_app(reg, CTX, app_id, ALL_OPS)
    assert issued.secret is None
    assert issued.event.algorithm == "RSA"
    assert issued.event.public_key_pem == "-----BEGIN PUBLIC KEY-----..."


def test_rotation_keeps_the_old_key_for_the_overlap_only() -> None:
    reg, app_id = registry_with_app()
    approved, first = decide.approve_app(reg, CTX, app_id, ALL_OPS)
    reg.apply(approved)
    reg.apply(first.event)
    second, retired = decide.rotate_key(reg, CTX, app_id, timedelta(hours=1))
    for event in (second.event, *retired):
        reg.apply(event)
    old, new = reg.key(first.event.access_key), reg.key(second.event.access_key)
    assert old is not None and new is not None
    assert old.valid_at(NOW + timedelta(minutes=59)) and new.valid_at(NOW)
    assert not old.valid_at(NOW + timedelta(hours=1))


def test_grants_check_operations_destinations_and_types() -> None:
    grants = decide.parse_grants(["send"], ["000.00.12.H53"], ["edxml"])
    assert grants.allows(Operation.SEND) and not grants.allows(Operation.RECEIVE)
    assert grants.allows_destination("000.00.12.H53")
    assert not grants.allows_destination("000.00.13.H53")
    assert grants.allows_data_type("edxml") and not grants.allows_data_type("pdf")
    everything = decide.parse_grants([], [], [])
    assert everything.allows(Operation.READ_STATISTICS) and everything.allows_destination("x")
    with pytest.raises(InvalidRequest):
        decide.parse_grants(["fly"], [], [])


def test_operator_roles() -> None:
    reg, _ = registry_with_app()
    op, issued = decide.register_operator(reg, CTX, "Chị Lan", "agency-admin", "000.00.11.H53")
    assert op.role == Role.AGENCY_ADMIN and op.agency_code == "000.00.11.H53"
    assert issued.event.app_id == op.operator_id and issued.secret
    with pytest.raises(InvalidRequest):
        decide.register_operator(reg, CTX, "x", "agency-admin", None)
    with pytest.raises(InvalidRequest):
        decide.register_operator(reg, CTX, "x", "root", None)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RegistryService]:
    db = await Database(tmp_path / "r.sqlite3").open()
    log = SqliteEventLog(db, poll_seconds=0.05)
    view = RegistryView()
    follower = asyncio.create_task(follow(log, [REGISTRY], view.apply))
    wrapper = MasterKeyWrapper(os.urandom(32))
    yield RegistryService(view, log, SqliteKeyStore(db), wrapper, domain="hcm.gov.vn",
                          wait_seconds=5)
    follower.cancel()
    await db.close()


async def test_service_reads_its_own_writes_and_keeps_secrets_wrapped(
    service: RegistryService, tmp_path: Path
) -> None:
    agency = await service.add_agency(CTX, "000.00.11.H53", "Sở Tư pháp")
    app = await service.add_app(CTX, agency.code, "QLVB")
    approved, new_key = await service.approve_app(CTX, app.app_id, ALL_OPS)
    assert approved.state is AppState.APPROVED
    assert new_key.secret is not None
    assert await service.secret(new_key.key) == new_key.secret
    raw = (tmp_path / "r.sqlite3").read_bytes()
    assert new_key.secret.encode() not in raw, "secrets are stored wrapped"
    revoked = await service.revoke_app(CTX, app.app_id, "test")
    assert revoked.state is AppState.REVOKED
    assert service.registry.keys[new_key.key.key_id].revoked


async def test_a_directory_sync_is_audited_like_any_other_action(
    service: RegistryService
) -> None:
    """A sync records its changes in windows, appended concurrently; each must still be
    vouched for by an audit link (docs/zones.md: "one audited registry event")."""
    await service.add_agency(CTX, "000.00.11.H53", "Sở Tư pháp")
    rows = [NationalAgency(national_id=str(n), code=f"000.00.{n:02d}.H53", name=f"Sở {n}")
            for n in range(20, 27)]
    await service.sync(CTX, rows, apply=True)
    records = [(r.position.partition, r.position.offset, r.event)
               async for r in service._log.read(REGISTRY)]
    verdict = audit.verify(records)
    assert verdict.breaks == [] and verdict.linked == 1 + 7


def test_master_key_wrapping_is_bound_to_its_context() -> None:
    wrapper = MasterKeyWrapper(base64.b64decode(base64.b64encode(os.urandom(32))))
    blob = wrapper.wrap(b"secret", b"key-1")
    assert wrapper.unwrap(blob, b"key-1") == b"secret"
    with pytest.raises(Exception):  # noqa: B017 — cryptography's InvalidTag
        wrapper.unwrap(blob, b"key-2")


def test_an_agency_admin_sees_only_its_own_agency() -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    own = Operator("op-1", "Sở Nội vụ", Role.AGENCY_ADMIN, "000.00.11.H53", at)
    assert own.sees("000.00.11.H53") and not own.sees("000.00.12.H53")
    assert not own.sees(None)
    for role in (Role.ADMIN, Role.AUDITOR):
        assert Operator("op-2", "TTCNTT", role, None, at).sees("000.00.12.H53")


def test_what_an_app_authenticated_with_lapses_with_revocation_and_expiry() -> None:
    """The one rule behind session introspection and the end of live streams."""
    reg, app_id = registry_with_app()
    approved, first = decide.approve_app(reg, CTX, app_id, ALL_OPS)
    reg.apply(approved)
    reg.apply(first.event)
    key_id = first.event.key_id
    assert lapsed(reg, app_id, key_id, NOW) is None
    second, retired = decide.rotate_key(reg, CTX, app_id, timedelta(seconds=30))
    for event in (second.event, *retired):
        reg.apply(event)
    assert lapsed(reg, app_id, key_id, NOW + timedelta(seconds=29)) is None
    assert lapsed(reg, app_id, key_id, NOW + timedelta(seconds=30)) == KEY_EXPIRED
    assert lapsed(reg, app_id, second.event.key_id, NOW + timedelta(seconds=30)) is None
    for event in decide.revoke_keys(reg, CTX, app_id, "lost laptop"):
        reg.apply(event)
    assert lapsed(reg, app_id, second.event.key_id, NOW) == KEY_REVOKED
    for event in decide.revoke_app(reg, CTX, app_id, "form 06"):
        reg.apply(event)
    assert lapsed(reg, app_id, second.event.key_id, NOW) == APP_REVOKED
    del reg.agencies[reg.apps[app_id].agency_id]
    reg.apps[app_id] = dataclasses.replace(reg.apps[app_id], state=AppState.APPROVED)
    assert lapsed(reg, app_id, key_id, NOW) == AGENCY_REMOVED


async def test_the_view_tells_its_listeners_each_change_once_folded_in() -> None:
    view = RegistryView()
    heard: list[tuple[str, bool]] = []
    event = decide.register_agency(view.registry, CTX, "000.00.11.H53", "Sở", "d")
    undo = view.listen(lambda e: heard.append(
        (type(e).__name__, view.registry.agency("000.00.11.H53") is not None)))
    await view.apply(Recorded(Position(REGISTRY, 0, 0), "k", event))
    await view.apply(Recorded(Position(REGISTRY, 0, 0), "k", event))  # seen: not told again
    undo()
    await view.apply(Recorded(Position(REGISTRY, 0, 1), "k", event))
    assert heard == [("AgencyRegistered", True)]


async def test_a_directory_sync_is_chained_like_every_registry_action(
        service: RegistryService) -> None:
    """A sync records many events at once (``record_many``): each still gets its audit
    link, so ``truc admin audit verify`` after a sync finds no unlinked action."""
    await service.add_agency(CTX, "000.00.11.H53", "Sở Tư pháp")
    rows = [NationalAgency(str(n), f"000.00.{n:02d}.H29", f"Sở {n}") for n in range(12, 20)]
    summary = await service.sync(CTX, rows, apply=True)
    assert summary.counts["added"] == 8
    log = service._log  # the records as `truc admin audit verify` reads them
    records = [(r.position.partition, r.position.offset, r.event)
               async for r in log.read(REGISTRY)]
    verdict = audit.verify(records)
    assert verdict.breaks == [] and verdict.linked == 1 + 8  # the agency, the 8 added


class CountingLog(SqliteEventLog):
    """The SQLite log, counting its round trips: one call to ``append_each`` is one."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, poll_seconds=0.05)
        self.calls: list[tuple[str, int]] = []

    async def append(self, topic: str, key: str, event: Event) -> Position:
        self.calls.append(("append", 1))
        return await super().append(topic, key, event)

    async def append_each(self, topic: str,
                          keyed: Sequence[tuple[str, Event]]) -> list[Position]:
        self.calls.append(("append_each", len(keyed)))
        return await super().append_each(topic, keyed)


async def test_a_directory_sync_appends_a_window_at_a_time(tmp_path: Path) -> None:
    """A 110,000-agency sync was 220,000 appends (256 in flight): now each window of
    actions is one ``append_each``, then its links one more — each link under its
    action's key — and the audit chain is whole."""
    db = await Database(tmp_path / "r.sqlite3").open()
    log, view = CountingLog(db), RegistryView()
    follower = asyncio.create_task(follow(log, [REGISTRY], view.apply))
    try:
        service = RegistryService(view, log, SqliteKeyStore(db),
                                  MasterKeyWrapper(os.urandom(32)), domain="hcm.gov.vn")
        rows = [NationalAgency(str(n), f"000.{n // 99:02d}.{n % 99 + 1:02d}.H29", f"Sở {n}")
                for n in range(2500)]
        summary = await service.sync(CTX, rows, apply=True)
        assert summary.counts["added"] == 2500
        assert log.calls == [("append_each", n) for n in (1000, 1000, 1000, 1000, 500, 500)]
        records = [r async for r in log.read(REGISTRY)]
        assert audit.verify([(r.position.partition, r.position.offset, r.event)
                             for r in records]).linked == 2500
        keys = {r.event.event_id: r.key for r in records}
        assert all(r.key == keys[r.event.subject_event_id] for r in records
                   if isinstance(r.event, AuditLinked))
    finally:
        follower.cancel()
        await db.close()
