"""Which alerts are due, whom to tell now, and what an attempt records: pure functions of
the policies, what the hub sees (open deliveries, expiries, presence), the alerts already
raised and the time.

- ``unfetched``: a delivery to the agency still not fetched ``unfetched_after`` after it
  was planned; the destination's contacts are told. One alert per delivery and planning
  (a redirected or reopened delivery may alert again).
- ``expired``: a delivery expired; the source's and the destination's contacts are told,
  each by its own policy, ``expired_after`` after the expiry. Only expiries after the
  policy was set: setting a policy (or rebuilding the view) does not replay the past.
- ``offline``: the agency offline (or never seen online since the policy was set) for
  ``offline_after``. One alert per offline spell.

An alert's id is derived from kind, agency and subject, and its event carries it as its
event id: two sweeps, or one replayed after a crash, raise the very same event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import events as ev
from hub.alerts.policy import AlertPolicy
from hub.deadlines.open import OpenDelivery
from hub.deadlines.rules import Presence

UNFETCHED = "unfetched"
EXPIRED = "expired"
OFFLINE = "offline"
SENT = "sent"
FAILED = "failed"
GAVE_UP = "gave_up"
ACTOR = "hub:alerts"
MAX_RETRY_DELAY = timedelta(hours=1)
_NAMESPACE = uuid.UUID("5d0c6a8e-2f4b-4f7e-9a51-3c2b7e1d9f40")


@dataclass(frozen=True)
class Expiry:
    """A delivery that expired, as the sweep still has to judge it."""

    package_id: str
    destination_agency_id: str
    source_agency_id: str
    expired_at: datetime
    expiry_id: str
    reason: str


@dataclass(frozen=True)
class Sight:
    """What the sweep sees now; ``presence`` None: not looked at (no offline alerts);
    ``codes``: agency id -> code, for the alerts' text."""

    deliveries: Iterable[OpenDelivery] = ()
    expiries: Iterable[Expiry] = ()
    presence: Mapping[str, Presence | None] | None = None
    codes: Mapping[str, str] | None = None


def alert_id(kind: str, agency_id: str, subject: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{agency_id}/{subject}"))


def due(policies: Mapping[str, AlertPolicy], sight: Sight, raised: set[str],
        now: datetime) -> list[ev.AlertRaised]:
    """Every alert due now that ``raised`` does not hold yet, oldest subject first."""
    codes = sight.codes or {}
    found = [*_unfetched(policies, sight.deliveries, now),
             *_expired(policies, sight.expiries, now, codes),
             *([] if sight.presence is None else
               _offline(policies, sight.presence, now, codes))]
    fresh = {a.alert_id: a for a in found if a.alert_id not in raised}
    return sorted(fresh.values(), key=lambda a: (a.since, a.alert_id))


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}"


def _unfetched(policies: Mapping[str, AlertPolicy], deliveries: Iterable[OpenDelivery],
               now: datetime) -> list[ev.AlertRaised]:
    found = []
    for d in deliveries:
        policy = policies.get(d.agency_id)
        if policy is None or not policy.active or policy.unfetched_after is None or d.fetched:
            continue
        if (now - d.planned_at).total_seconds() < policy.unfetched_after:
            continue
        detail = (f"Gói tin {d.package_id} gửi {d.code} chưa được nhận sau "
                  f"{_hours(policy.unfetched_after)} giờ / package {d.package_id} to {d.code} "
                  f"not fetched after {_hours(policy.unfetched_after)} h")
        found.append(_raised(policy, UNFETCHED, f"{d.package_id}/{d.generation}", now,
                             since=d.planned_at, detail=detail, package_id=d.package_id,
                             destination_agency_id=d.agency_id))
    return found


def _expired(policies: Mapping[str, AlertPolicy], expiries: Iterable[Expiry], now: datetime,
             codes: Mapping[str, str]) -> list[ev.AlertRaised]:
    found = []
    for x in expiries:
        to = codes.get(x.destination_agency_id, x.destination_agency_id)
        for agency_id in dict.fromkeys((x.destination_agency_id, x.source_agency_id)):
            policy = policies.get(agency_id)
            if policy is None or not policy.active or policy.expired_after is None:
                continue
            if x.expired_at < policy.set_at or \
                    (now - x.expired_at).total_seconds() < policy.expired_after:
                continue
            detail = (f"Gói tin {x.package_id} gửi {to} đã hết hạn ({x.reason}) / "
                      f"delivery of package {x.package_id} to {to} expired ({x.reason})")
            found.append(_raised(policy, EXPIRED, x.expiry_id, now, since=x.expired_at,
                                 detail=detail,
                                 package_id=x.package_id,
                                 destination_agency_id=x.destination_agency_id))
    return found


def judged(policies: Mapping[str, AlertPolicy], expiry: Expiry, now: datetime) -> bool:
    """Whether nothing more can come of an expiry: every policy of its two agencies that
    alerts on expiries has had its delay (its alert, if any, is due by now)."""
    delays = [p.expired_after for a in (expiry.destination_agency_id, expiry.source_agency_id)
              if (p := policies.get(a)) is not None and p.active and p.expired_after is not None]
    return (now - expiry.expired_at).total_seconds() >= max(delays, default=0)


def _offline(policies: Mapping[str, AlertPolicy], presence: Mapping[str, Presence | None],
             now: datetime, codes: Mapping[str, str]) -> list[ev.AlertRaised]:
    found = []
    for agency_id, policy in sorted(policies.items()):
        if not policy.active or policy.offline_after is None:
            continue
        seen = presence.get(agency_id)
        if seen is not None and seen.online:
            continue
        since = policy.set_at if seen is None else max(seen.since, policy.set_at)
        if (now - since).total_seconds() < policy.offline_after:
            continue
        code = codes.get(agency_id, agency_id)
        detail = (f"Đơn vị {code} mất kết nối quá {_hours(policy.offline_after)} giờ / "
                  f"agency {code} offline for more than {_hours(policy.offline_after)} h")
        found.append(_raised(policy, OFFLINE, since.isoformat(), now, since=since,
                                 detail=detail))
    return found


def _raised(policy: AlertPolicy, kind: str, subject: str, now: datetime, *,
            since: datetime, detail: str, package_id: str | None = None,
            destination_agency_id: str | None = None) -> ev.AlertRaised:
    found = alert_id(kind, policy.agency_id, subject)
    return ev.AlertRaised(
        event_id=found, occurred_at=now, actor=ACTOR, correlation_id=package_id or found,
        alert_id=found, agency_id=policy.agency_id, kind=kind, package_id=package_id,
        destination_agency_id=destination_agency_id, since=since, detail=detail,
        contacts=list(policy.contacts))


@dataclass(frozen=True)
class Attempt:
    """A contact's state for one alert: its last recorded attempt."""

    outcome: str
    attempt: int
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Send:
    alert: ev.AlertRaised
    contact: str
    attempt: int


def sends_due(alerts: Iterable[tuple[ev.AlertRaised, Mapping[str, Attempt]]],
              now: datetime) -> list[Send]:
    """Each contact not told yet, or whose failed attempt's retry is due; a contact told
    (``sent``) or given up on is never sent to again."""
    found = []
    for alert, attempts in alerts:
        for contact in alert.contacts:
            last = attempts.get(contact)
            if last is None:
                found.append(Send(alert, contact, 1))
            elif last.outcome == FAILED and (last.next_attempt_at is None
                                             or last.next_attempt_at <= now):
                found.append(Send(alert, contact, last.attempt + 1))
    return found


def outcome(send: Send, error: str | None, now: datetime, *, first_delay: timedelta,
            attempts: int) -> ev.AlertSent:
    """What one attempt records: ``sent``; else ``failed`` with the next try after a
    delay doubling from ``first_delay`` (capped at an hour), or ``gave_up`` after
    ``attempts`` tries. The id names the attempt, so recording it twice counts once."""
    if error is None:
        result, next_at = SENT, None
    elif send.attempt >= attempts:
        result, next_at = GAVE_UP, None
    else:
        delay = min(first_delay * 2 ** (send.attempt - 1), MAX_RETRY_DELAY)
        result, next_at = FAILED, now + delay
    return ev.AlertSent(
        event_id=str(uuid.uuid5(_NAMESPACE, f"{send.alert.alert_id}/{send.contact}/"
                                            f"{send.attempt}")),
        occurred_at=now, actor=ACTOR, correlation_id=send.alert.correlation_id,
        alert_id=send.alert.alert_id, agency_id=send.alert.agency_id, contact=send.contact,
        outcome=result, attempt=send.attempt, error=None if error is None else error[:500],
        next_attempt_at=next_at)


def state(contacts: Iterable[str], attempts: Mapping[str, Attempt]) -> str:
    """An alert's state as the console shows it: ``raised`` (nobody tried yet),
    ``sent`` (every contact told), ``gave_up`` (some contact never will be), else
    ``failed`` (retrying)."""
    outcomes = [attempts[c].outcome if c in attempts else None for c in contacts]
    if all(o == SENT for o in outcomes):
        return SENT
    if GAVE_UP in outcomes:
        return GAVE_UP
    if FAILED in outcomes:
        return FAILED
    return "raised"
