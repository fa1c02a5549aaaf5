"""Codes as history: an operator records that codes were closed and who carries on.

Since the 2025 province merges (Decision 09/2025/QĐ-TTg) agency codes change under a
running hub, while documents, statuses and searches naming the old codes keep coming for
months. An agency keeps its stable id; a succession moves it to a new code (a re-code) or
folds several agencies into one (a merge). Pure: the caller records the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hub import bounds
from hub import events as ev
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.decisions import Context, checked_name
from hub.registry.model import Agency, Registry

MAX_OLD_CODES = 100


def succeed(reg: Registry, ctx: Context, old_codes: list[str], new_code: str, *,
            effective_at: datetime, reason: str, domain: str,
            name: str | None = None) -> ev.AgencySucceeded:
    """``old_codes`` close and ``new_code`` carries on. The successor is the agency that
    already holds ``new_code``, or else the agency of the first old code (re-coded): the
    identity with the apps and keys carries on, the others merge into it."""
    bounds.check_count(old_codes, "old_codes", MAX_OLD_CODES, code="invalid_succession")
    new = str(AgencyCode.parse(new_code))
    olds = list(dict.fromkeys(str(AgencyCode.parse(c)) for c in old_codes))
    olds = [c for c in olds if c != new]
    if not olds:
        raise InvalidRequest("name at least one old code other than the new one",
                             code="invalid_succession", field="old_codes")
    effective_at = bounds.check_instant(effective_at, "effective_at", "invalid_succession")
    if effective_at > ctx.now:
        raise InvalidRequest("effective_at is in the future; record a succession on the day "
                             "it takes effect", code="invalid_succession", field="effective_at")
    closing = [_live(reg, c) for c in olds]
    holder = reg.holder(new)
    if holder is not None and (holder.code != new or holder.merged_into is not None):
        raise Conflict(f"{new} was closed; it cannot be given again", code="code_closed")
    successor = holder or closing[0]
    parent = AgencyCode.parse(new).parent()
    return ev.AgencySucceeded(
        **ctx.envelope(), agency_id=successor.agency_id, code=new,
        name=checked_name(name or successor.name),
        parent_code=str(parent) if parent else None,
        account=f"{new}@{domain}" if successor.code != new else successor.account,
        old_codes=[a.code for a in closing], old_agency_ids=[a.agency_id for a in closing],
        effective_at=effective_at,
        reason=bounds.check_text(reason, "reason", bounds.REASON, multiline=True))


def _live(reg: Registry, code: str) -> Agency:
    """The agency that holds ``code`` as its current code, or a clear refusal."""
    agency = reg.holder(code)
    if agency is None:
        raise NotFound(f"no agency with code {code}", code="unknown_agency", agency_code=code)
    current = reg.successor(agency)
    if agency.code != code or agency.merged_into is not None:
        raise Conflict(f"{code} is already closed; its successor is "
                       f"{current.code if current else 'gone'}", code="code_closed")
    return agency


@dataclass(frozen=True)
class Resolved:
    """A code as named, and the agency it reaches today under its current code."""

    named: str
    agency: Agency

    @property
    def code(self) -> str:
        return self.agency.code

    @property
    def succeeded(self) -> bool:
        """The named code was closed: tell whoever used it the new one."""
        return self.named != self.agency.code


def resolve(reg: Registry, code: str) -> Resolved | None:
    """The one lookup for anything that names an agency by code (a package's recipients,
    an edXML ``To``, a status, a search): old or new, valid or not. None when the code is
    not a QCVN 102 code or reaches no live agency."""
    try:
        named = str(AgencyCode.parse(code))
    except InvalidAgencyCode:
        return None
    agency = reg.agency(named)
    return None if agency is None else Resolved(named, agency)


def successor_codes(reg: Registry, codes: Iterable[str]) -> dict[str, str]:
    """For each code as named that resolves to an agency now known by another code: the
    named code -> the current one. What a source is told when it used a closed code (the
    send answer's ``successors``); codes that are invalid or unknown are left out."""
    found: dict[str, str] = {}
    for named in codes:
        resolved = resolve(reg, named)
        if resolved is not None and resolved.succeeded:
            found[named] = resolved.code
    return found


def lineage(reg: Registry, agency: Agency) -> list[Agency]:
    """The agency and every agency merged into it: whose history and statistics are its."""
    return [agency, *reg.predecessors(agency.agency_id)]


def delivery_code(reg: Registry, deliveries: Mapping[str, str], named: str) -> str:
    """The code under which a package's delivery is known (``deliveries``: agency id ->
    delivery code), for a code a caller named — maybe a closed one, or the new one of an
    agency whose delivery was planned under its old code. ``named`` when none matches."""
    if named in deliveries.values():
        return named
    try:
        agency = reg.agency(str(AgencyCode.parse(named)))
    except InvalidAgencyCode:
        return named
    if agency is None:
        return named
    for member in lineage(reg, agency):
        if member.agency_id in deliveries:
            return deliveries[member.agency_id]
    return named
