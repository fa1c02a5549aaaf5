"""The statistics fold: what each package and presence event adds to an agency's numbers.

Counted at the hub-local date and hour of the event that makes the fact true:
- ``sent`` / ``bytes_sent``: the source's package sealed (its size);
- ``received`` / ``bytes_received``: a destination acknowledged the package;
- ``delivered``: one of the source's deliveries acknowledged;
- ``rejected``: the source's package rejected at seal;
- ``expired``, ``recalled``: one of the source's deliveries closed that way (an expired
  delivery reopened by a new deadline and acknowledged later then also counts as
  delivered; one that expires again counts again); a redirected delivery counts nothing,
  the delivery to the new destination counts as any other;
- delivery time, seal → acknowledgement, one row per delivery under the source
  (direction ``out``) and under the destination (``in``), for exact median and p95;
- ``connects``, first connect and last disconnect, from the presence topic;
- documents by type (issue 14): an edXML document's type name (``DocumentAnalysed``,
  ``DocumentType/TypeName``) counted as ``docs_sent:<type>`` when the source's package is
  sealed and ``docs_received:<type>`` when a destination acknowledges it (status
  packages and non-edXML packages count nothing here).

A package's own state (its source, size, seal time, which deliveries are closed) is kept
in a state row, so the same fact is never counted twice — not even when a processor
re-emits a derived event after a crash (same event id, different log position).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub import events as ev
from hub.ports import JSONValue, Row, RowRef
from hub.projection import UNCHANGED, Change, Count, Fold
from hub.topics import PACKAGES, PRESENCE

NAME = "statistics"
COUNTERS = "stats"
DURATIONS = "stats_delivery"
STATE = "stats_package"
COUNTED = ("sent", "bytes_sent", "received", "bytes_received", "delivered", "rejected",
           "expired", "recalled", "connects")

DOCS_SENT, DOCS_RECEIVED = "docs_sent:", "docs_received:"
"""Counter-name prefixes of the documents by type: the type's name follows."""

CLOSINGS: dict[type[ev.Event], str] = {ev.DeliveryExpired: "expired",
                                       ev.DeliveryRecalled: "recalled"}
"""Events that close a delivery without acknowledgement, and the counter each adds to.
A new way to close a delivery is one entry here."""

State = dict[str, Any]


def counter_ref(agency_id: str, local: datetime) -> RowRef:
    """``local``: the event's time in the hub's zone (converted once per event)."""
    return RowRef(COUNTERS, agency_id, local.date().isoformat())


def duration_ref(agency_id: str, local: datetime, *, package_id: str, destination: str,
                 direction: str) -> RowRef:
    return _duration_ref(agency_id, local.date().isoformat(), f"{local.hour:02d}",
                         package_id=package_id, destination=destination, direction=direction)


def _duration_ref(agency_id: str, day: str, hour: str, *, package_id: str, destination: str,
                  direction: str) -> RowRef:
    """``duration_ref`` from the local day (ISO, so ``day[:7]`` is its month) and hour
    already formatted: an acknowledgement, the commonest event a replay folds, writes four
    rows on the same day, formatted once rather than four times."""
    return RowRef(DURATIONS, f"{agency_id}|{day[:7]}",
                  f"{day}|{hour}|{package_id}|{destination}|{direction}")


def state_of(event: ev.Event) -> RowRef | None:
    package_id = getattr(event, "package_id", None)
    return RowRef(STATE, package_id, "") if package_id else None


def statistics_fold(tz: ZoneInfo) -> Fold:
    """The fold for a hub in time zone ``tz`` (changing it means rebuilding)."""

    def step(state: Mapping[str, JSONValue] | None, event: ev.Event) -> Change:
        if isinstance(event, ev.AgencyConnected | ev.AgencyDisconnected):
            return _presence(event, tz)
        handler = _HANDLERS.get(type(event))
        if isinstance(event, ev.PackageRequested):
            return _requested(state, event)
        if state is None:
            return UNCHANGED
        if handler is not None:
            return handler(dict(state), event, tz)  # type: ignore[no-any-return]
        closing = CLOSINGS.get(type(event))
        if closing is not None:
            return _closed(dict(state), event, closing, tz)
        return UNCHANGED

    return Fold(NAME, (PACKAGES, PRESENCE), (COUNTERS, DURATIONS), state_of, step,
                frozenset(t.__name__ for t in (*_HANDLERS, *CLOSINGS, *_OTHERS)), READS)


def _count(agency: str, at: datetime, tz: ZoneInfo, **add: int) -> Count:
    local = at.astimezone(tz)
    return Count(counter_ref(agency, local),
                 add={f"{local.hour:02d}.{k}": n for k, n in add.items()})


def _requested(state: Mapping[str, JSONValue] | None, e: ev.PackageRequested) -> Change:
    if state is not None:
        return UNCHANGED
    return Change({"source": e.source_agency_id, "size": e.declared_size, "sealed_ms": None,
                   "rejected": False, "closed": {}})


def _sealed(s: State, e: ev.PackageSealed, tz: ZoneInfo) -> Change:
    if s["sealed_ms"] is not None or s["rejected"]:
        return UNCHANGED
    s.update(sealed_ms=_ms(e.occurred_at), size=e.size)
    docs = {DOCS_SENT + s["doc_type"]: 1} if s.get("doc_type") else {}
    return Change(s, counts=[_count(s["source"], e.occurred_at, tz, sent=1, bytes_sent=e.size,
                                    **docs)])


def _analysed(s: State, e: ev.DocumentAnalysed, _: ZoneInfo) -> Change:
    """The type of an accepted edXML document, kept until its seal and its receipts."""
    if e.kind != "document" or e.problems or not e.document_type or s.get("doc_type"):
        return UNCHANGED
    s["doc_type"] = e.document_type
    return Change(s)


def _rejected(s: State, e: ev.PackageRejected, tz: ZoneInfo) -> Change:
    if s["rejected"] or s["sealed_ms"] is not None:
        return UNCHANGED
    s["rejected"] = True
    return Change(s, counts=[_count(s["source"], e.occurred_at, tz, rejected=1)])


def _acknowledged(s: State, e: ev.DeliveryAcknowledged, tz: ZoneInfo) -> Change:
    dest = e.destination_agency_id
    if dest in s["closed"] or s["sealed_ms"] is None:
        return UNCHANGED
    s["closed"] = {**s["closed"], dest: "acknowledged"}
    at, local = e.occurred_at, e.occurred_at.astimezone(tz)
    ms = max(0, _ms(at) - s["sealed_ms"])
    day, hour, source = local.date().isoformat(), f"{local.hour:02d}", s["source"]
    pid = e.package_id
    rows = [Row(_duration_ref(source, day, hour, package_id=pid, destination=dest,
                              direction="out"), {"ms": ms}),
            Row(_duration_ref(dest, day, hour, package_id=pid, destination=dest,
                              direction="in"), {"ms": ms})]
    received = {f"{hour}.received": 1, f"{hour}.bytes_received": s["size"]}
    if s.get("doc_type"):
        received[f"{hour}.{DOCS_RECEIVED}{s['doc_type']}"] = 1
    counts = [Count(RowRef(COUNTERS, source, day), add={f"{hour}.delivered": 1}),
              Count(RowRef(COUNTERS, dest, day), add=received)]
    return Change(s, rows, counts)


def _closed(s: State, e: ev.Event, counter: str, tz: ZoneInfo) -> Change:
    dest = str(getattr(e, "destination_agency_id", ""))
    if dest in s["closed"]:
        return UNCHANGED
    s["closed"] = {**s["closed"], dest: counter}
    return Change(s, counts=[_count(s["source"], e.occurred_at, tz, **{counter: 1})])


def _ms(at: datetime) -> int:
    """Milliseconds since the epoch (events carry millisecond times)."""
    return round(at.timestamp() * 1000)


def _extended(s: State, e: ev.DeadlineExtended, _: ZoneInfo) -> Change:
    """An expired delivery reopens (the expiry stays counted: it happened)."""
    if s["closed"].get(e.destination_agency_id) != "expired":
        return UNCHANGED
    s["closed"] = {k: v for k, v in s["closed"].items() if k != e.destination_agency_id}
    return Change(s)


def _redirected(s: State, e: ev.DeliveryRedirected, _: ZoneInfo) -> Change:
    if e.from_agency_id in s["closed"]:
        return UNCHANGED
    s["closed"] = {**s["closed"], e.from_agency_id: "redirected"}
    return Change(s)


def _presence(e: ev.AgencyConnected | ev.AgencyDisconnected, tz: ZoneInfo) -> Change:
    local = e.occurred_at.astimezone(tz)
    ref = counter_ref(e.agency_id, local)
    at = e.occurred_at.isoformat()
    if isinstance(e, ev.AgencyConnected):
        hour = f"{local.hour:02d}"
        return Change(counts=[Count(ref, add={f"{hour}.connects": 1},
                                    low={"first_connect": at})])
    return Change(counts=[Count(ref, high={"last_disconnect": at})])


READS = frozenset({"occurred_at", "package_id", "source_agency_id", "declared_size", "size",
                   "destination_agency_id", "from_agency_id", "agency_id", "kind",
                   "problems", "document_type"})
"""Every event field the fold reads: a replay decodes only these (a field read here but
missing from this list fails loudly, or reads the field's default: the replay tests
compare a rebuild from such events with the live rows, built from whole events)."""
_OTHERS = (ev.PackageRequested, ev.AgencyConnected, ev.AgencyDisconnected)
_HANDLERS: dict[type[ev.Event], Any] = {
    ev.PackageSealed: _sealed, ev.PackageRejected: _rejected,
    ev.DeliveryAcknowledged: _acknowledged, ev.DeadlineExtended: _extended,
    ev.DeliveryRedirected: _redirected, ev.DocumentAnalysed: _analysed,
}
