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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hub.registry.codes import AgencyCode, InvalidAgencyCode

CODE = "code"
BRANCH = "branch"
PROVINCE = "province"


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
    return None


def _ordered(zones: Mapping[str, Zone]) -> list[Zone]:
    return [zones[name] for name in sorted(zones)]
