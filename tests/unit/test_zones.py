"""Zones: the routing table's matching rules, its validation, its fold and its service."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub import audit
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.events import AuditLinked
from hub.registry import decisions as decide
from hub.registry.decisions import Context
from hub.registry.model import Registry
from hub.registry.service import RegistryService
from hub.registry.view import RegistryView
from hub.topics import REGISTRY, route
from hub.zones import decisions as zones
from hub.zones.model import BRANCH, CODE, PROVINCE, Zone
from hub.zones.model import route as route_code
from infra.crypto import MasterKeyWrapper
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.stores import SqliteKeyStore
from streams.runner import follow

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
CTX = Context(actor="op-test", now=NOW, correlation_id="c-1")


def table(**given: Zone) -> dict[str, Zone]:
    return given


def zone(name: str, *, codes: tuple[str, ...] = (), branches: tuple[str, ...] = (),
         provinces: tuple[str, ...] = ()) -> Zone:
    return Zone(name, f"https://{name}.example", "AK", f"zone:{name}:s", frozenset(codes),
                frozenset(branches), frozenset(provinces))


# --- matching ---------------------------------------------------------------------------


def test_explicit_code_beats_branch_beats_province() -> None:
    zones_ = table(
        a=zone("a", provinces=("H29",)),
        b=zone("b", branches=("000.00.12.H29",)),
        c=zone("c", codes=("000.01.12.H29",)),
        d=zone("d", branches=("000.02.12.H29",)),
    )
    explicit = route_code(zones_, "000.01.12.H29")
    assert explicit is not None and (explicit.zone.name, explicit.kind) == ("c", CODE)
    branch = route_code(zones_, "000.03.12.H29")
    assert branch is not None and (branch.zone.name, branch.kind, branch.pattern) == \
        ("b", BRANCH, "000.00.12.H29")
    deeper = route_code(zones_, "000.02.12.H29")
    assert deeper is not None and deeper.zone.name == "d"  # the longest prefix wins
    province = route_code(zones_, "000.00.05.H29")
    assert province is not None and (province.zone.name, province.kind) == ("a", PROVINCE)


def test_a_branch_routes_itself_and_a_code_is_normalised() -> None:
    zones_ = table(b=zone("b", branches=("000.00.12.H29",)))
    found = route_code(zones_, " 000.00.12.h29 ")
    assert found is not None and found.pattern == "000.00.12.H29"


def test_codes_outside_every_pattern_and_non_codes_are_not_routed() -> None:
    zones_ = table(a=zone("a", provinces=("H29",), branches=("000.00.12.H01",)))
    assert route_code(zones_, "000.00.12.H53") is None
    assert route_code(zones_, "000.00.13.H01") is None  # a sibling, not under the branch
    assert route_code(zones_, "H29") is None
    assert route_code(zones_, "not a code") is None
    assert route_code({}, "000.00.12.H29") is None


def test_an_agency_registered_here_stays_local_whatever_the_table_says() -> None:
    reg = Registry()
    reg.apply(decide.register_agency(reg, CTX, "000.00.12.H29", "Sở", "d"))
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    assert zones.routed_zone(reg, "000.00.12.H29") is None
    routed = zones.routed_zone(reg, "000.00.13.H29")
    assert routed is not None and routed.name == "hcm"


# --- validation -------------------------------------------------------------------------


def configured(reg: Registry, name: str = "hcm", **kw: object) -> None:
    given: dict[str, object] = {"url": "https://hcm.example/", "access_key": "AK",
                                "new_secret": True, **kw}
    reg.apply(zones.configure_zone(reg, CTX, name, **given))  # type: ignore[arg-type]


def test_a_zone_is_folded_whole_and_replaced_whole() -> None:
    reg = Registry()
    configured(reg, provinces=["h29"], codes=["000.00.12.h01"])
    first = reg.zones["hcm"]
    assert first.url == "https://hcm.example"
    assert (first.provinces, first.codes, first.branches) == \
        (frozenset({"H29"}), frozenset({"000.00.12.H01"}), frozenset())
    kept = zones.configure_zone(reg, CTX, "hcm", "https://hcm2.example", "AK2",
                                branches=["000.00.12.H29"], new_secret=False)
    reg.apply(kept)
    assert kept.secret_id == first.secret_id  # no new secret: the old one stays
    assert reg.zones["hcm"].provinces == frozenset()
    assert reg.zones["hcm"].branches == frozenset({"000.00.12.H29"})
    reg.apply(zones.remove_zone(reg, CTX, "hcm", "merged"))
    assert reg.zones == {}


@pytest.mark.parametrize(("name", "kw", "code"), [
    ("HCM", {"provinces": ["H29"]}, "invalid_zone"),
    ("hcm", {"provinces": ["29"]}, "invalid_zone"),
    ("hcm", {"codes": ["000.00.12"]}, "invalid_agency_code"),
    ("hcm", {"branches": ["000.01.00.H29"]}, "invalid_agency_code"),
    ("hcm", {}, "invalid_zone"),
    ("hcm", {"provinces": ["H29"], "url": "ftp://hcm.example"}, "invalid_zone"),
    ("hcm", {"provinces": ["H29"], "url": "https://hcm.example/?a=1"}, "invalid_zone"),
    ("hcm", {"provinces": ["H29"], "access_key": "A K"}, "invalid_zone"),
    ("hcm", {"provinces": ["H29"], "new_secret": False}, "zone_secret_required"),
])
def test_bad_zones_are_refused_with_a_code(name: str, kw: dict[str, object], code: str
                                           ) -> None:
    with pytest.raises(InvalidRequest) as caught:
        configured(Registry(), name, **kw)
    assert caught.value.code == code


def test_one_pattern_has_one_zone() -> None:
    reg = Registry()
    configured(reg, "hcm", provinces=["H29"], codes=["000.00.12.H01"])
    with pytest.raises(Conflict) as caught:
        configured(reg, "hn", provinces=["H01", "H29"])
    assert caught.value.code == "route_conflict"
    with pytest.raises(Conflict):
        configured(reg, "hn", codes=["000.00.12.H01"])
    configured(reg, "hn", branches=["000.00.12.H01"], provinces=["H01"])  # other kinds
    configured(reg, "hcm", provinces=["H29", "H30"])  # a zone may change its own


def test_removing_an_unknown_zone_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        zones.remove_zone(Registry(), CTX, "nowhere", "why")
    assert caught.value.code == "unknown_zone"


def test_zone_events_are_keyed_by_zone_in_the_registry_topic() -> None:
    reg = Registry()
    event = zones.configure_zone(reg, CTX, "hcm", "https://h.example", "AK",
                                 provinces=["H29"], new_secret=True)
    assert route(event) == (REGISTRY, "hcm")


# --- the service: secret wrapped, actions audited ----------------------------------------


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[RegistryService, SqliteKeyStore]]:
    db = await Database(tmp_path / "r.sqlite3").open()
    log = SqliteEventLog(db, poll_seconds=0.05)
    view = RegistryView()
    follower = asyncio.create_task(follow(log, [REGISTRY], view.apply))
    keys = SqliteKeyStore(db)
    yield (RegistryService(view, log, keys, MasterKeyWrapper(os.urandom(32)),
                           domain="d", wait_seconds=5), keys)
    follower.cancel()
    await db.close()


async def test_service_stores_the_peer_secret_wrapped_and_audits_each_action(
    service: tuple[RegistryService, SqliteKeyStore],
) -> None:
    svc, keys = service
    found = await svc.configure_zone(CTX, "hcm", "https://hcm.example", "AKPEER",
                                     "peer-secret", provinces=["H29"])
    assert found.provinces == frozenset({"H29"})
    assert await svc.secret_by_id(found.secret_id) == "peer-secret"
    blob = await keys.get(found.secret_id)
    assert blob is not None and b"peer-secret" not in blob
    changed = await svc.configure_zone(CTX, "hcm", "https://hcm.example", "AKPEER", None,
                                       provinces=["H29", "H30"])
    assert changed.secret_id == found.secret_id
    await svc.remove_zone(CTX, "hcm", "done")
    assert svc.registry.zones == {}
    recorded = [r async for r in svc._log.read(REGISTRY)]
    linked = [r.event for r in recorded if isinstance(r.event, AuditLinked)]
    assert [e.subject_type for e in linked] == ["ZoneConfigured", "ZoneConfigured",
                                                 "ZoneRemoved"]
    verdict = audit.verify((r.position.partition, r.position.offset, r.event)
                           for r in recorded)
    assert verdict.intact and verdict.linked == 3
