"""Routing-table commands: check against the registry, return the events to record.

Pure, like ``hub.registry.decisions``: the caller stores the peer's secret (wrapped, in
the key store, under the event's ``secret_id``) before recording the event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from hub import bounds
from hub import events as ev
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.registry.codes import normalise
from hub.registry.decisions import Context
from hub.registry.model import Registry
from hub.zones.model import AXIS, BRANCH, CODE, HELD, PROTOCOLS, PROVINCE, TRUC, Zone, route
from hub.zones.peers import peer_id

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_LEVEL1 = re.compile(r"[A-Z][0-9]{2}")
MAX_PATTERNS = 10_000
"""Per kind and zone: a province's explicit list stays far below."""


def configure_zone(reg: Registry, ctx: Context, name: str, url: str, access_key: str, *,
                   codes: Iterable[str] = (), branches: Iterable[str] = (),
                   provinces: Iterable[str] = (), new_secret: bool, protocol: str = TRUC,
                   local_key: str = "") -> ev.ZoneConfigured:
    """A zone, new or replaced whole. A new zone needs the peer's secret
    (``new_secret``); a zone changed without one keeps the secret it had. A pattern
    another zone serves is refused (``route_conflict``): every code has one route.
    ``protocol`` (``hub.zones.model``): an ``axis`` zone (one at most) needs no pattern,
    it is the default route; a ``held`` zone needs no URL, key nor secret, but the app
    here its documents wait for (``local_key``), as an axis zone names the app its
    incoming documents come from."""
    name = zone_name(name)
    if protocol not in PROTOCOLS:
        raise InvalidRequest(f"protocol must be one of {', '.join(PROTOCOLS)}",
                             code="invalid_zone", field="protocol")
    before = reg.zones.get(name)
    held = protocol == HELD
    if before is None and not new_secret and not held:
        raise InvalidRequest(f"zone {name} is new: give the secret key this hub holds on "
                             "the peer", code="zone_secret_required", field="secret_key")
    event = ev.ZoneConfigured(
        **ctx.envelope(), zone=name, url=peer_url(url) if url or not held else "",
        access_key=bounds.check_token(access_key, "access_key", 100, code="invalid_zone")
        if access_key or not held else "",
        secret_id=_secret_id(name, before, new_secret, held),
        codes=_patterns(codes, "codes", normalise),
        branches=_patterns(branches, "branches", normalise),
        provinces=_patterns(provinces, "provinces", _level1),
        protocol=protocol, local_key=_local_app(reg, protocol, local_key))
    if protocol != AXIS and not (event.codes or event.branches or event.provinces):
        raise InvalidRequest(f"zone {name} serves no code: give codes, branches or "
                             "provinces", code="invalid_zone", field="codes")
    _check_no_overlap(reg, event)
    return event


def _secret_id(name: str, before: Zone | None, new_secret: bool, held: bool) -> str:
    if new_secret or (before is None and not held):
        return f"zone:{name}:{uuid.uuid4()}"
    return before.secret_id if before is not None else ""


def _local_app(reg: Registry, protocol: str, local_key: str) -> str:
    """An axis or held zone names an app of this hub by its access key."""
    if protocol == TRUC:
        return ""
    key = reg.key(local_key) if local_key else None
    if key is None or key.principal_id not in reg.apps:
        raise InvalidRequest(f"a zone of protocol {protocol} names the access key of an "
                             "app of this hub (local_key)", code="invalid_zone",
                             field="local_key")
    return local_key


def local_agency_id(reg: Registry, zone: Zone) -> str | None:
    """The agency of the app an axis or held zone names here, while it is registered."""
    key = reg.key(zone.local_key) if zone.local_key else None
    app = reg.apps.get(key.principal_id) if key is not None else None
    return app.agency_id if app is not None and app.agency_id in reg.agencies else None


def remove_zone(reg: Registry, ctx: Context, name: str, reason: str) -> ev.ZoneRemoved:
    name = zone_name(name)
    if name not in reg.zones:
        raise NotFound(f"no zone {name}", code="unknown_zone")
    return ev.ZoneRemoved(**ctx.envelope(), zone=name,
                          reason=bounds.check_text(reason, "reason", 500))


def zone_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(f"zone name {name!r}: 1 to 40 lowercase letters, digits or "
                             "dashes", code="invalid_zone", field="zone")
    return name


def peer_url(url: str) -> str:
    """An http(s) base URL with a host, without a trailing slash, query or fragment."""
    url = bounds.check_text(url, "url", bounds.URL, code="invalid_zone")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment:
        raise InvalidRequest(f"url {url!r}: an http(s) base URL such as "
                             "https://truc.hcm.gov.vn", code="invalid_zone", field="url")
    return url.rstrip("/")


def _level1(text: str) -> str:
    code = text.strip().upper() if isinstance(text, str) else ""
    if not _LEVEL1.fullmatch(code):
        raise InvalidRequest(f"province {text!r}: a level-1 code, a letter and two digits "
                             "(H29)", code="invalid_zone", field="provinces")
    return code


def _patterns(values: Iterable[str], field: str, check: Callable[[str], str]) -> list[str]:
    found = sorted({check(v) for v in values})
    if len(found) > MAX_PATTERNS:
        raise InvalidRequest(f"{field}: at most {MAX_PATTERNS} per zone",
                             code="invalid_zone", field=field)
    return found


def _check_no_overlap(reg: Registry, event: ev.ZoneConfigured) -> None:
    mine = {CODE: set(event.codes), BRANCH: set(event.branches),
            PROVINCE: set(event.provinces)}
    for other in reg.zones.values():
        if other.name == event.zone:
            continue
        if event.protocol == AXIS and other.protocol == AXIS:
            raise Conflict(f"zone {other.name} is already the upstream national axis",
                           code="route_conflict", zone=other.name, pattern="*")
        for kind, pattern in other.patterns():
            if pattern in mine[kind]:
                raise Conflict(f"{kind} {pattern} is already routed to zone {other.name}",
                               code="route_conflict", zone=other.name, pattern=pattern)


def routed_zone(reg: Registry, code: str) -> Zone | None:
    """The zone a code goes to, if this hub does not know the code as its own: an agency
    registered here (or a closed code of one) stays local whatever the table says."""
    if reg.agency(code) is not None:
        return None
    found = route(reg.zones, code)
    return None if found is None else found.zone


def destination_id(reg: Registry, code: str) -> str | None:
    """The agency id a delivery to ``code`` is planned for: the agency registered here;
    for a held zone's code, the agency of the app that zone's hub is here (it fetches
    the document through the axis's protocol); for another zone's, its peer id
    (``hub.zones.peers``); None when nothing routes it."""
    agency = reg.agency(code)
    if agency is not None:
        return agency.agency_id
    zone = routed_zone(reg, code)
    if zone is None:
        return None
    return local_agency_id(reg, zone) if zone.protocol == HELD else peer_id(code)


def relay_zone(reg: Registry, app_id: str) -> Zone | None:
    """The axis or held zone whose documents this app relays here: the app an axis
    zone's incoming documents come from, or the app a held zone's hub is here."""
    for zone in reg.zones.values():
        key = reg.key(zone.local_key) if zone.local_key else None
        if key is not None and key.principal_id == app_id:
            return zone
    return None


def relays_sender(reg: Registry, app_id: str, code: str) -> bool:
    """A relaying app sends documents of other agencies: their ``From`` names one of
    those, not the app's own agency. The axis's app, of any agency not registered here
    (the national axis carries every agency's documents, another zone's included); a
    held zone's, of the agencies that zone serves."""
    zone = relay_zone(reg, app_id)
    if zone is None or reg.agency(code) is not None:
        return False
    return zone.protocol == AXIS or routed_zone(reg, code) == zone


def relayed_codes(reg: Registry, app_id: str, codes: list[str]) -> list[str]:
    """The ``To`` codes a relayed document is delivered to from here: never back to the
    zone it came from (the axis delivers to every code not registered here itself)."""
    zone = relay_zone(reg, app_id)
    if zone is None:
        return codes
    if zone.protocol == AXIS:
        return [c for c in codes if reg.agency(c) is not None]
    return [c for c in codes if reg.agency(c) is not None or routed_zone(reg, c) != zone]


def one_per_destination(reg: Registry, codes: list[str]) -> list[str]:
    """The codes, the first of each destination only: two codes of one held zone reach
    the same agency here (its hub's app), which gets the document once and hands it on
    to every code its ``To`` names."""
    seen: set[str | None] = set()
    kept = []
    for code in codes:
        found = destination_id(reg, code)
        if found is None or found not in seen:
            kept.append(code)
            seen.add(found)
    return kept
