"""The routing table: which agency codes belong to another zone's hub, and which hub.

A **zone** is a peer hub (its URL, and the access key this hub holds as an app registered
on it) with the code patterns it serves:

- ``codes``: explicit agency codes (``000.00.12.H29``);
- ``branches``: a code and every code under it in the QCVN 102 hierarchy (the hierarchical
  prefix: ``000.00.12.H29`` routes ``000.01.12.H29`` too);
- ``provinces``: a level-1 code (``H29``): the whole province or ministry.

``route`` picks, for one code, the most specific pattern of all zones: an explicit code,
then the deepest branch, then the province. Patterns never overlap across zones at the
same specificity (``hub.zones.decisions`` refuses it), so the answer is one zone or none.
Pure: the table is folded from registry events on every node like the rest of the registry.

A zone's ``protocol`` says how it is reached (issue 15, item 5): ``truc``, a peer hub
through its JSON API (``streams/forwarder.py``); ``axis``, the upstream national axis, as
its client (``streams/gateway.py``): at most one, and it is the **default route**, taking
every valid code no pattern claims; ``held``, the other way round: this hub is the axis of
that zone's hub, whose documents wait in the inbox of the app it is here (``local_key``)
until it fetches them through the axis's protocol (``docs/national-axis.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hub.registry.codes import AgencyCode, InvalidAgencyCode

CODE = "code"
BRANCH = "branch"
PROVINCE = "province"
DEFAULT = "default"
TRUC, AXIS, HELD = "truc", "axis", "held"
PROTOCOLS = (TRUC, AXIS, HELD)


@dataclass(frozen=True)
class Zone:
    name: str
    url: str
    access_key: str
    secret_id: str
    """The key-store id of the secret this hub signs with on the peer (never in the log)."""
    codes: frozenset[str] = frozenset()
    branches: frozenset[str] = frozenset()
    provinces: frozenset[str] = frozenset()
    configured_at: datetime | None = None
    protocol: str = TRUC
    local_key: str = ""
    """axis: the app here incoming documents come from; held: the app that zone's hub
    is here, whose agency receives the zone's documents."""

    def patterns(self) -> Iterable[tuple[str, str]]:
        """(kind, pattern) of every pattern this zone serves."""
        yield from ((CODE, c) for c in sorted(self.codes))
        yield from ((BRANCH, b) for b in sorted(self.branches))
        yield from ((PROVINCE, p) for p in sorted(self.provinces))


@dataclass(frozen=True)
class Match:
    """Why a code goes to a zone: the pattern that won."""

    zone: Zone
    kind: str
    pattern: str


def ancestry(code: AgencyCode) -> list[str]:
    """The code, then its parent, up to the level-1 agency: deepest first."""
    chain: list[str] = []
    at: AgencyCode | None = code
    while at is not None:
        chain.append(str(at))
        at = at.parent()
    return chain


def route(zones: Mapping[str, Zone], code: str) -> Match | None:
    """The zone a code is routed to, or None (this hub's, or nobody's). A text that is no
    agency code is routed nowhere (the caller's own checks say why)."""
    try:
        parsed = AgencyCode.parse(code)
    except InvalidAgencyCode:
        return None
    text = str(parsed)
    for zone in _ordered(zones):
        if text in zone.codes:
            return Match(zone, CODE, text)
    for branch in ancestry(parsed):
        for zone in _ordered(zones):
            if branch in zone.branches:
                return Match(zone, BRANCH, branch)
    for zone in _ordered(zones):
        if parsed.level1 in zone.provinces:
            return Match(zone, PROVINCE, parsed.level1)
    upstream = axis_zone(zones)
    return None if upstream is None else Match(upstream, DEFAULT, "*")


def axis_zone(zones: Mapping[str, Zone]) -> Zone | None:
    """The upstream national axis, if one is configured (at most one is)."""
    return next((z for z in _ordered(zones) if z.protocol == AXIS), None)


def _ordered(zones: Mapping[str, Zone]) -> list[Zone]:
    return [zones[name] for name in sorted(zones)]
