"""The ``alerts`` view, and the expiries the alert sweep has still to judge.

- ``alerts``: partition = the alerted agency's id; one row per alert (key = alert id, the
  ``AlertRaised`` as recorded) and one per contact told (key ``<alert id>|<digest of the
  contact>``, its last ``AlertSent``). One scan of an agency's partition gives its alerts
  with every contact's state: what the sweep needs to know what is left to send, and what
  the console shows.
- ``alert_expiries``: one row per expired delivery, spread over ``SHARDS`` by package,
  written here with the tracking record and deleted by the sweep once judged.

Written by one pure projector (exactly-once through its tracking record, like any other).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from hub import events as ev
from hub.alerts.rules import Attempt, Expiry, state
from hub.deadlines.open import shard
from hub.ports import Row, RowRef
from hub.projection import NOTHING, Projector, Writes
from hub.topics import PACKAGES, PRESENCE

ALERTS = "alerts"
EXPIRIES = "alert_expiries"
TRACKER = "alerts"

def alert_ref(agency_id: str, alert_id: str) -> RowRef:
    return RowRef(ALERTS, agency_id, alert_id)


def contact_ref(agency_id: str, alert_id: str, contact: str) -> RowRef:
    digest = hashlib.sha256(contact.encode()).hexdigest()[:16]
    return RowRef(ALERTS, agency_id, f"{alert_id}|{digest}")


def expiry_ref(package_id: str, agency_id: str) -> RowRef:
    return RowRef(EXPIRIES, shard(package_id), f"{package_id}|{agency_id}")


def project(event: ev.Event) -> Writes:
    if isinstance(event, ev.AlertRaised):
        return Writes(upserts=[Row(alert_ref(event.agency_id, event.alert_id), {
            "alert_id": event.alert_id, "agency_id": event.agency_id, "kind": event.kind,
            "package_id": event.package_id,
            "destination_agency_id": event.destination_agency_id,
            "since": event.since.isoformat(), "raised_at": event.occurred_at.isoformat(),
            "detail": event.detail, "contacts": list(event.contacts),
            "correlation_id": event.correlation_id})])
    if isinstance(event, ev.AlertSent):
        return Writes(upserts=[Row(contact_ref(event.agency_id, event.alert_id, event.contact), {
            "contact": event.contact, "outcome": event.outcome, "attempt": event.attempt,
            "error": event.error, "at": event.occurred_at.isoformat(),
            "next_attempt_at": None if event.next_attempt_at is None
            else event.next_attempt_at.isoformat()})])
    if isinstance(event, ev.DeliveryExpired):
        return Writes(upserts=[Row(expiry_ref(event.package_id, event.destination_agency_id), {
            "package_id": event.package_id, "agency_id": event.destination_agency_id,
            "expired_at": event.occurred_at.isoformat(), "expiry_id": event.event_id,
            "reason": event.reason})])
    return NOTHING


ALERTS_PROJECTOR = Projector(name=TRACKER, topics=(PACKAGES, PRESENCE), project=project)


def _at(value: object) -> datetime:
    found = datetime.fromisoformat(str(value))
    if found.tzinfo is None:
        raise ValueError(f"{value} has no time zone")
    return found


def read_alerts(rows: Iterable[Row]) -> list[tuple[ev.AlertRaised, dict[str, Attempt]]]:
    """An agency's partition read back: each alert with its contacts' last attempts,
    oldest first. ``ValueError``/``KeyError`` on a row that cannot be read."""
    alerts: dict[str, ev.AlertRaised] = {}
    attempts: dict[str, dict[str, Attempt]] = {}
    for row in rows:
        body = row.body
        if "contact" in body:
            alert = row.ref.key.split("|", 1)[0]
            next_at = body.get("next_attempt_at")
            attempts.setdefault(alert, {})[str(body["contact"])] = Attempt(
                str(body["outcome"]), int(body["attempt"]), _at(next_at) if next_at else None)
        else:
            alerts[str(body["alert_id"])] = ev.AlertRaised(
                event_id=str(body["alert_id"]), occurred_at=_at(body["raised_at"]),
                actor="hub:alerts", correlation_id=str(body.get("correlation_id", "")),
                alert_id=str(body["alert_id"]), agency_id=str(body["agency_id"]),
                kind=str(body["kind"]), package_id=body.get("package_id"),
                destination_agency_id=body.get("destination_agency_id"),
                since=_at(body["since"]), detail=str(body["detail"]),
                contacts=[str(c) for c in body["contacts"]])
    return sorted(((a, attempts.get(i, {})) for i, a in alerts.items()),
                  key=lambda found: (found[0].occurred_at, found[0].alert_id))


def shown(alert: ev.AlertRaised, attempts: Mapping[str, Attempt]) -> dict[str, Any]:
    """An alert as the API and the console show it."""
    return {"alert_id": alert.alert_id, "agency_id": alert.agency_id, "kind": alert.kind,
            "package_id": alert.package_id, "since": alert.since.isoformat(),
            "raised_at": alert.occurred_at.isoformat(), "detail": alert.detail,
            "state": state(alert.contacts, attempts),
            "contacts": [{"contact": c, "outcome": attempts[c].outcome if c in attempts
                          else None, "attempts": attempts[c].attempt if c in attempts else 0}
                         for c in alert.contacts]}


def read_expiry(body: Mapping[str, Any], source_agency_id: str) -> Expiry:
    return Expiry(str(body["package_id"]), str(body["agency_id"]), source_agency_id,
                  _at(body["expired_at"]), str(body["expiry_id"]), str(body["reason"]))
