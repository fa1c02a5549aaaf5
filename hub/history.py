"""Exchange history (Điều 5.12): every package an agency sent or received, with its
timeline, searchable by date, counterpart, status, data type and title words.

One row per (agency, package) in view ``history``, partitioned by agency and hub-local
month of the request (``<agency id>|YYYY-MM``) so a partition stays bounded and a date
range is a key range (keys start with the request's local date). The package itself is
folded with the package model's own ``evolve`` into a state row of this projection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub import events as ev
from hub.packages.model import Package, evolve
from hub.ports import JSONValue, Row, RowRef
from hub.projection import UNCHANGED, Change, Fold
from hub.statistics.local import day_of, month_of
from hub.text import fold, words
from hub.topics import PACKAGES

NAME = "history"
HISTORY = "history"
STATE = "history_package"
SHARED_STEPS = ("PackageRequested", "PackageSealed")
"""The steps of a package every destination sees; the rest only concern the source (its
upload, the shredding) or another destination. An event rewrites only the rows it changes
(the source's, and one destination's), which keeps each batch small however many
destinations a package has."""


def state_of(event: ev.Event) -> RowRef | None:
    package_id = getattr(event, "package_id", None)
    return RowRef(STATE, package_id, "") if package_id else None


def history_fold(tz: ZoneInfo) -> Fold:
    def step(state: Mapping[str, JSONValue] | None, event: ev.Event) -> Change:
        before = None if state is None else Package.from_json(dict(state))
        after = evolve(before, event)
        if after is None or after is before:
            return UNCHANGED
        old = {r.ref: r.body for r in _rows(before, tz)} if before is not None else {}
        changed = [r for r in _rows(after, tz) if old.get(r.ref) != r.body]
        return Change(after.to_json(), changed)

    return Fold(NAME, (PACKAGES,), (HISTORY,), state_of, step)


def _rows(pkg: Package, tz: ZoneInfo) -> list[Row]:
    requested = datetime.fromisoformat(pkg.requested_at)
    key = f"{day_of(requested, tz)}|{pkg.requested_at}|{pkg.package_id}"
    month = month_of(requested, tz)
    rows = [Row(RowRef(HISTORY, f"{pkg.source_agency_id}|{month}", key),
                entry(pkg, "sent", pkg.source_agency_id, tz))]
    rows.extend(Row(RowRef(HISTORY, f"{agency}|{month}", key), entry(pkg, "received", agency, tz))
                for agency in pkg.deliveries)
    return rows


def entry(pkg: Package, direction: str, agency_id: str, tz: ZoneInfo) -> dict[str, Any]:
    """What one agency sees of a package: its side of it, and the steps that concern it."""
    if direction == "sent":
        status = pkg.state.value
        counterparts = [d.code for d in pkg.deliveries.values()] or list(pkg.recipients)
        steps = pkg.timeline
    else:
        status = pkg.deliveries[agency_id].state.value
        counterparts = [pkg.source_code]
        steps = tuple(s for s in pkg.timeline
                      if s.agency_id == agency_id or s.what in SHARED_STEPS)
    return {
        "package_id": pkg.package_id, "direction": direction, "status": status,
        "date": day_of(datetime.fromisoformat(pkg.requested_at), tz),
        "requested_at": pkg.requested_at, "title": pkg.title, "title_folded": fold(pkg.title),
        "data_type": pkg.data_type, "priority": pkg.priority, "size": pkg.size,
        "source": pkg.source_code, "counterparts": counterparts,
        "timeline": [{"at": s.at, "what": s.what, "agency_id": s.agency_id,
                      "detail": s.detail} for s in steps],
        **document_entry(pkg),
    }


def document_entry(pkg: Package) -> dict[str, Any]:
    """An edXML document's number/notation, type and subject (issue 14), folded for
    search like the title; nothing for a package the hub did not read as a document."""
    doc = pkg.document or {}
    if "code_number" not in doc:
        return {}
    number, notation = doc["code_number"], doc["code_notation"]
    code = f"{number}/{notation}".strip("/")
    searched = " ".join((code, number, notation, doc["subject"]))
    return {"document": {"code": code, "type": doc["type_name"], "subject": doc["subject"],
                         "promulgation_date": doc["promulgation_date"]},
            "document_folded": fold(searched), "document_type_folded": fold(doc["type_name"])}


@dataclass(frozen=True)
class HistoryQuery:
    start: date
    end: date
    counterpart: str | None = None
    status: str | None = None
    data_type: str | None = None
    text: str | None = None
    document_type: str | None = None
    """An edXML document's type name, accents optional ("cong van" finds "Công văn")."""

    def matches(self, item: Mapping[str, Any]) -> bool:
        """Every given filter holds; title words match without accents, in any order,
        as prefixes ("van ban" finds "Văn bản", "cong" finds "Công văn"); for an edXML
        document, so do its number/notation and subject."""
        if not self.start.isoformat() <= item["date"] <= self.end.isoformat():
            return False
        if self.counterpart and self.counterpart not in item["counterparts"]:
            return False
        if self.status and item["status"] != self.status:
            return False
        if self.data_type and item["data_type"] != self.data_type:
            return False
        if self.document_type and item.get("document_type_folded") != fold(self.document_type):
            return False
        title = f"{item['title_folded']} {item.get('document_folded', '')}".split()
        return all(any(t.startswith(w) for t in title) for w in words(self.text or ""))
