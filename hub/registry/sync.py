"""Directory sync by diffs: a national agency list (the national axis's
``getAgenciesList`` rows: ``id``, ``pid``, ``code``, ``name``, ``mail``, ``oldCode``,
``code102``) compared with the registry, as the changes it would make — added, renamed,
re-coded, removed — each one registry event when applied.

Pure and streaming: rows come one by one (the reader is in ``infra/``), changes go out
one by one, so a 110,000-row list is never held whole. What is kept is bounded by the
registry itself: the codes seen, to find the agencies the list no longer has. Only
agencies that came from a national list (``national_id``) are ever removed; agencies an
operator registered by hand are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub import events as ev
from hub.errors import TrucError
from hub.registry import decisions, succession
from hub.registry.codes import AgencyCode
from hub.registry.decisions import Context
from hub.registry.model import Agency, Registry

ADDED, RENAMED, RECODED, REMOVED, INVALID = "added", "renamed", "recoded", "removed", "invalid"
KINDS = (ADDED, RENAMED, RECODED, REMOVED, INVALID)
SAMPLES = 20


@dataclass(frozen=True)
class NationalAgency:
    national_id: str
    code: str
    name: str
    mail: str | None = None
    old_code: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Change:
    kind: str
    code: str
    name: str = ""
    old_code: str | None = None
    old_name: str | None = None
    detail: str | None = None
    row: NationalAgency | None = None

    def view(self) -> dict[str, Any]:
        shown = {"kind": self.kind, "code": self.code, "name": self.name,
                 "old_code": self.old_code, "old_name": self.old_name, "detail": self.detail}
        return {k: v for k, v in shown.items() if v is not None}


@dataclass
class Summary:
    """Counts per kind and the first few changes of each, for a dry run's report."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [] for k in KINDS})

    def add(self, change: Change) -> None:
        self.counts[change.kind] += 1
        if len(self.samples[change.kind]) < SAMPLES:
            self.samples[change.kind].append(change.view())

    def view(self) -> dict[str, Any]:
        return {"counts": self.counts, "unchanged": self.unchanged, "samples": self.samples}


def row_of(raw: Mapping[str, Any]) -> NationalAgency:
    """A list row as given (JSON or CSV): the QCVN 102 code is ``code102`` when set,
    else ``code``; empty strings are absent values."""
    def text(name: str) -> str | None:
        value = raw.get(name)
        value = "" if value is None else str(value).strip()
        return value or None

    return NationalAgency(national_id=text("id") or "", code=text("code102") or
                          text("code") or "", name=text("name") or "", mail=text("mail"),
                          old_code=text("oldCode"), parent_id=text("pid"))


def changes(reg: Registry, rows: Iterable[NationalAgency],
            summary: Summary | None = None) -> Iterator[Change]:
    """The changes that bring the registry to the list, as the rows stream by; the
    removals come last. ``summary`` (if given) counts the unchanged rows too."""
    summary = summary if summary is not None else Summary()
    by_national = {a.national_id: a.agency_id for a in reg.agencies.values()
                   if a.national_id and a.merged_into is None}
    seen: set[str] = set()
    """Agency ids and codes the list named: what must not be removed, nor listed twice."""
    for row in rows:
        change = _change(reg, row, seen, by_national)
        if change is None:
            summary.unchanged += 1
        else:
            yield change
    for agency in list(reg.agencies.values()):
        if agency.national_id and agency.merged_into is None \
                and agency.agency_id not in seen and agency.code not in seen:
            yield Change(REMOVED, agency.code, agency.name, detail="not in the national list")


def _change(reg: Registry, row: NationalAgency, seen: set[str],
            by_national: Mapping[str, str]) -> Change | None:
    code_or_refusal = _valid(reg, row)
    if isinstance(code_or_refusal, Change):
        return code_or_refusal
    code = code_or_refusal
    holder = reg.holder(code)
    previous = _previous(reg, row, holder, by_national)
    target = previous if previous is not None else holder
    if code in seen or (target is not None and target.agency_id in seen):
        return Change(INVALID, code, row.name, detail="listed twice", row=row)
    seen.add(code)
    if target is None:
        return Change(ADDED, code, row.name, row=row)
    seen.add(target.agency_id)
    if target.code != code:
        return Change(RECODED, code, row.name, old_code=target.code,
                      old_name=target.name, row=row)
    if target.name == row.name:
        return None
    return Change(RENAMED, code, row.name, old_name=target.name, row=row)


def _valid(reg: Registry, row: NationalAgency) -> str | Change:
    """The row's code in canonical form, or why the row cannot be applied."""
    try:
        code = str(AgencyCode.parse(row.code))
    except TrucError as exc:
        return Change(INVALID, row.code, row.name, detail=exc.detail, row=row)
    if not row.name:
        return Change(INVALID, code, detail="the row has no name", row=row)
    holder = reg.holder(code)
    if holder is not None and (holder.code != code or holder.merged_into is not None):
        return Change(INVALID, code, row.name, detail="a closed code", row=row)
    return code


def _previous(reg: Registry, row: NationalAgency, holder: Agency | None,
              by_national: Mapping[str, str]) -> Agency | None:
    """The live agency this row continues: by national id, else by ``oldCode``."""
    known = by_national.get(row.national_id) if row.national_id else None
    if known is not None and known in reg.agencies:
        return reg.agencies[known]
    if holder is None and row.old_code:
        try:
            old = reg.holder(str(AgencyCode.parse(row.old_code)))
        except TrucError:
            return None
        if old is not None and old.merged_into is None:
            return old
    return holder


def event_of(reg: Registry, ctx: Context, change: Change, *, domain: str,
             reason: str) -> ev.Event | None:
    """The registry event that applies one change (None for an invalid row)."""
    row = change.row
    if change.kind == ADDED and row is not None:
        return decisions.register_agency(reg, ctx, change.code, row.name, domain,
                                         national_id=row.national_id or None, mail=row.mail)
    if change.kind == RECODED and change.old_code is not None:
        return succession.succeed(reg, ctx, [change.old_code], change.code,
                                  effective_at=ctx.now, reason=reason, domain=domain,
                                  name=change.name)
    if change.kind == RENAMED:
        agency = reg.holder(change.code)
        assert agency is not None
        return ev.AgencyRenamed(**ctx.envelope(), agency_id=agency.agency_id,
                                code=agency.code, name=decisions.checked_name(change.name))
    if change.kind == REMOVED:
        agency = reg.holder(change.code)
        assert agency is not None
        return ev.AgencyRemoved(**ctx.envelope(), agency_id=agency.agency_id,
                                code=agency.code, reason=reason)
    return None
