"""The routing table's axis and held zones (issue 15, item 5): the upstream national axis
is the default route of every code no zone claims (one at most); a held zone's codes are
planned for the agency of the app that zone's hub is here."""

from __future__ import annotations

import pytest

from hub.errors import Conflict, InvalidRequest
from hub.packages import decisions as decide
from hub.zones import decisions as zones
from hub.zones.model import DEFAULT, PROVINCE
from hub.zones.model import route as route_code
from hub.zones.peers import peer_id
from tests.unit.test_packages import CTX, DEST, LIMITS, OTHER, SOURCE, send, world

FAR, HCM = "000.00.12.H01", "000.00.12.H29"


def test_the_axis_takes_every_code_no_zone_claims_and_only_those() -> None:
    reg, callers = world()
    key = callers[OTHER].key.access_key
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    reg.apply(zones.configure_zone(reg, CTX, "quoc-gia", "https://axis.example", "SYS",
                                   new_secret=True, protocol="axis", local_key=key))
    far = route_code(reg.zones, FAR)
    assert far is not None and (far.zone.name, far.kind) == ("quoc-gia", DEFAULT)
    hcm = route_code(reg.zones, HCM)
    assert hcm is not None and (hcm.zone.name, hcm.kind) == ("hcm", PROVINCE)
    assert route_code(reg.zones, "not a code") is None
    assert zones.routed_zone(reg, DEST) is None  # registered here: local
    assert zones.destination_id(reg, FAR) == peer_id(FAR)
    requested, _ = decide.request_package(reg, callers[SOURCE], CTX, send([FAR]), LIMITS)
    assert requested.recipient_agency_ids == [peer_id(FAR)]


def test_one_axis_at_most_and_it_names_an_app_here() -> None:
    reg, callers = world()
    key = callers[OTHER].key.access_key
    reg.apply(zones.configure_zone(reg, CTX, "quoc-gia", "https://axis.example", "SYS",
                                   new_secret=True, protocol="axis", local_key=key))
    with pytest.raises(Conflict) as twice:
        zones.configure_zone(reg, CTX, "other", "https://axis2.example", "SYS",
                             new_secret=True, protocol="axis", local_key=key)
    assert twice.value.code == "route_conflict"
    with pytest.raises(InvalidRequest) as no_app:
        zones.configure_zone(reg, CTX, "quoc-gia", "https://axis.example", "SYS",
                             new_secret=False, protocol="axis", local_key="NOPE")
    assert no_app.value.extra["field"] == "local_key"
    with pytest.raises(InvalidRequest) as bad:
        zones.configure_zone(reg, CTX, "x", "https://x.example", "SYS", new_secret=True,
                             protocol="smtp", provinces=["H01"])
    assert bad.value.code == "invalid_zone"


def test_a_held_zones_codes_go_to_the_agency_of_the_app_its_hub_is_here() -> None:
    reg, callers = world()
    holder = callers[OTHER]
    event = zones.configure_zone(reg, CTX, "brvt", "", "", provinces=["H29"],
                                 new_secret=False, protocol="held",
                                 local_key=holder.key.access_key)
    reg.apply(event)
    assert (event.url, event.access_key, event.secret_id) == ("", "", "")
    assert zones.destination_id(reg, HCM) == holder.app.agency_id
    requested, _ = decide.request_package(reg, callers[SOURCE], CTX, send([HCM]), LIMITS)
    assert requested.recipients == [HCM]
    assert requested.recipient_agency_ids == [holder.app.agency_id]
    other = "000.00.13.H29"
    twice, _ = decide.request_package(reg, callers[SOURCE], CTX, send([HCM, other]), LIMITS)
    assert twice.recipients == [HCM]  # one copy for that zone's hub: it hands it on
    assert twice.recipient_agency_ids == [holder.app.agency_id]
    with pytest.raises(InvalidRequest):  # a held zone still serves some code
        zones.configure_zone(reg, CTX, "empty", "", "", new_secret=False, protocol="held",
                             local_key=holder.key.access_key)
