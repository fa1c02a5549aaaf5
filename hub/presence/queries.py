"""Reading presence: who may see it, and the shape the API and the CLI show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from hub.errors import InvalidRequest
from hub.presence.model import SUMMARY_KEY, AgencyPresence, stamp
from hub.registry.model import Agency, App, Operation


def may_see(app: App, target: Agency) -> bool:
    """An app sees the presence of its own agency and of every agency it may send to —
    what it needs to know whether a package will be picked up now."""
    if app.agency_id == target.agency_id:
        return True
    grants = app.grants
    return grants is not None and grants.allows(Operation.SEND) \
        and grants.allows_destination(target.code)


def merged_online(states: Iterable[AgencyPresence]) -> tuple[bool, str | None]:
    """An agency and the agencies merged into it (its lineage, the agency first) are one
    for presence: online when any of them holds a connection now, since the earliest of
    those; else offline since the first state known. ``(False, None)``: never seen."""
    known = list(states)
    live = [s.since for s in known if s.online]
    if live:
        return True, min(live)
    return False, known[0].since if known else None


def offline(agency: Agency) -> dict[str, Any]:
    """The summary of an agency never seen online: no row exists for it."""
    return {"agency_id": agency.agency_id, "agency_code": agency.code, "online": False,
            "since": None, "apps_online": [], "nodes": [], "connections": 0}


def presence_of(agency: Agency, rows: Iterable[tuple[str, Mapping[str, Any]]]
                ) -> dict[str, Any]:
    """One agency: its summary row (key ``""``) and the rows of its apps, by app id."""
    found = dict(rows)
    head = found.pop(SUMMARY_KEY, None)
    summary = dict(head) if head is not None else offline(agency)
    summary["agency_code"] = agency.code
    summary["name"] = agency.name
    summary["apps"] = [dict(found[k]) for k in sorted(found)]
    return summary


def listing(agencies: Iterable[Agency], index: Mapping[str, Mapping[str, Any]]
            ) -> list[dict[str, Any]]:
    """Every agency's summary by code, offline ones too, from the ``presence_index`` rows
    (by agency id)."""
    shown = []
    for agency in sorted(agencies, key=lambda a: a.code):
        body = index.get(agency.agency_id)
        summary = AgencyPresence.from_json(body).summary() if body is not None \
            else offline(agency)
        shown.append({**summary, "agency_code": agency.code, "name": agency.name})
    return shown


def parse_bound(text: str | None, name: str) -> str | None:
    """A ``from``/``to`` query bound as the history's key prefix; 400 when unreadable."""
    if text is None or text == "":
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO-8601 date or time, got {text!r}",
                             code="invalid_time") from None
    if at.tzinfo is None:
        raise InvalidRequest(f"{name} needs a time zone (e.g. Z or +07:00)",
                             code="invalid_time")
    return stamp(at)


def history_between(rows: Iterable[Mapping[str, Any]], start: str | None, end: str | None
                    ) -> list[dict[str, Any]]:
    """Rows with ``start <= at < end`` (either bound optional), oldest first."""
    return [dict(r) for r in rows
            if (start is None or r["at"] >= start) and (end is None or r["at"] < end)]
