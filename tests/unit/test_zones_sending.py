"""Sending to another zone's agency: accepted, planned as a delivery to a peer, kept open
by the deadline rules while a zone serves the code, and never looped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub import events as ev
from hub.auth.sessions import NotGranted
from hub.deadlines import actions
from hub.deadlines.open import OpenDelivery
from hub.deadlines.rules import due, receiving
from hub.errors import Conflict, InvalidRequest
from hub.packages import decisions as decide
from hub.packages.model import Package, evolve
from hub.packages.processor import Outcome, step
from hub.registry.model import Grants
from hub.zones import decisions as zones
from hub.zones.peers import peer_code, peer_id
from tests.unit.test_packages import CTX, DEST, DIGEST, LIMITS, NOW, SOURCE, send, world

REMOTE = "000.00.12.H29"



def sealed(requested: ev.PackageRequested, space: ev.SpaceGranted) -> Outcome:
    """The package processor's step on the seal of a package requested and granted."""
    pkg: Package | None = None
    for e in (requested, space):
        pkg = evolve(pkg, e)
    return step(pkg, ev.PackageSealed(
        event_id="s", occurred_at=NOW, actor="a", correlation_id="c",
        package_id=requested.package_id, size=requested.declared_size, sha256=DIGEST))


def test_a_routed_code_is_accepted_and_planned_as_a_peer_delivery() -> None:
    reg, callers = world()
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    requested, space = decide.request_package(reg, callers[SOURCE], CTX,
                                              send([REMOTE, " 000.00.12.h53"]), LIMITS)
    assert sorted(requested.recipients) == ["000.00.12.H29", "000.00.12.H53"]
    ids = dict(zip(requested.recipients, requested.recipient_agency_ids, strict=True))
    assert ids[REMOTE] == peer_id(REMOTE) and peer_code(ids[REMOTE]) == REMOTE
    outcome = sealed(requested, space)
    planned = {e.destination_code: e.destination_agency_id for e in outcome.derived
               if isinstance(e, ev.DeliveryPlanned)}
    assert planned[REMOTE] == peer_id(REMOTE)
    after = outcome.package
    for derived in outcome.derived:
        after = evolve(after, derived)
    assert after is not None and after.deliveries[peer_id(REMOTE)].code == REMOTE


def test_an_unrouted_unknown_code_is_still_unknown() -> None:
    reg, callers = world()
    with pytest.raises(InvalidRequest) as caught:
        decide.request_package(reg, callers[SOURCE], CTX, send([REMOTE]), LIMITS)
    assert caught.value.code == "unknown_recipients"


def test_grants_apply_to_routed_codes() -> None:
    reg, callers = world()
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    caller = callers[SOURCE]
    app = caller.app
    narrowed = type(app)(**{**app.__dict__, "grants": Grants(
        app.grants.operations if app.grants else frozenset(), frozenset({"000.00.13.H29"}))})
    with pytest.raises(NotGranted):
        decide.request_package(reg, type(caller)(narrowed, caller.key, caller.agency_code),
                               CTX, send([REMOTE]), LIMITS)


def test_a_package_whose_trace_names_this_hub_is_refused() -> None:
    reg, callers = world()
    limits = type(LIMITS)(**{**LIMITS.__dict__, "hub_name": "hub-b"})
    with pytest.raises(Conflict) as caught:
        decide.request_package(reg, callers[SOURCE], CTX,
                               send(trace=("hub-a", "hub-b")), limits)
    assert caught.value.code == "forwarding_loop"
    with pytest.raises(Conflict):
        decide.request_package(reg, callers[SOURCE], CTX,
                               send(trace=tuple(f"h{i}" for i in range(17))), limits)
    requested, _ = decide.request_package(reg, callers[SOURCE], CTX,
                                          send(trace=("hub-a",)), limits)
    assert requested.trace == ["hub-a"]
    assert evolve(None, requested) is not None
    assert evolve(None, requested).trace == ("hub-a",)  # type: ignore[union-attr]


def test_a_peer_delivery_waits_while_its_zone_serves_the_code() -> None:
    reg, _ = world()
    assert receiving(reg, peer_id(REMOTE)) == "unknown_destination"
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    assert receiving(reg, peer_id(REMOTE)) is None
    delivery = OpenDelivery("p", peer_id(REMOTE), REMOTE, "normal", NOW, None, 60, 0, False)
    assert due([delivery], NOW + timedelta(days=2), reg, {}) == []  # offline: the peer's
    reg.apply(zones.remove_zone(reg, CTX, "hcm", "gone"))
    [expired] = due([delivery], NOW + timedelta(seconds=1), reg, {})
    assert expired.reason == "unknown_destination"


def test_a_delivery_is_redirected_to_another_zones_agency() -> None:
    reg, callers = world()
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    requested, space = decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)
    outcome = sealed(requested, space)
    pkg = outcome.package
    for derived in outcome.derived:
        pkg = evolve(pkg, derived)
    redirected = actions.redirect(CTX, reg, pkg, callers[SOURCE], from_code=DEST,
                                  to_code=REMOTE)
    assert (redirected.to_agency_id, redirected.to_code) == (peer_id(REMOTE), REMOTE)
    [planned] = step(pkg, redirected).derived
    assert isinstance(planned, ev.DeliveryPlanned)
    assert planned.destination_agency_id == peer_id(REMOTE)
    with pytest.raises(InvalidRequest) as unknown:
        actions.redirect(CTX, reg, pkg, callers[SOURCE], from_code=DEST,
                         to_code="000.00.12.H01")
    assert unknown.value.code == "unknown_destination"
