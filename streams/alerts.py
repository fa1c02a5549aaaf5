"""The alert sweep's driver: every ``TRUC_ALERT_SECONDS``, raise the alerts due and tell
each contact, once (``hub.alerts``).

A tick, on the one process that leads (the embedded hub; distributed, the worker holding
partition 0 of the packages topic, as for the deadline watchdog):

1. waits until the ``alerts`` view has applied everything recorded on the presence topic
   (where alerts are recorded): what it reads as raised or sent is then the whole truth
   also right after a restart, so nothing is raised or sent twice;
2. reads what the rules need — the open deliveries, the expiries not judged yet, the
   presence of the agencies watched — and records each ``AlertRaised`` the pure rules
   decide (ids derived from the subject: a repeat is the same event);
3. sends to each contact due (new, or a failed attempt whose retry is due) and records an
   ``AlertSent`` per attempt: ``sent``, ``failed`` with its next try, or ``gave_up``.

A contact told but whose ``AlertSent`` could not be recorded (a crash in between) is told
again: at least once, and once in every other case. A send that fails (SMTP server down,
webhook refused) is recorded and retried by a later tick; it never fails the tick.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from hub import events as ev
from hub.alerts import rules
from hub.alerts.policy import AlertPolicy
from hub.alerts.rules import Attempt, Expiry, Send, Sight
from hub.alerts.view import ALERTS, EXPIRIES, TRACKER, read_alerts, read_expiry
from hub.deadlines.open import OPEN, SHARDS, OpenDelivery
from hub.deadlines.rules import Presence
from hub.packages.model import Package
from hub.packages.processor import package_ref
from hub.ports import Clock, EventLog, Position, Projections, RowRef
from hub.registry.view import RegistryView
from hub.topics import PRESENCE, record
from streams.applied import Applied
from streams.runner import repeat
from streams.watchdog import read_presence

log = logging.getLogger(__name__)
REMEMBERED = 100_000


class Sender(Protocol):
    async def send(self, alert: ev.AlertRaised, contact: str, agency_code: str) -> None:
        """Raises when the contact could not be told."""
        ...


class AlertSweep:
    def __init__(self, events: EventLog, projections: Projections, view: RegistryView,
                 applied: Applied, sender: Sender, *, clock: Clock, interval: float,
                 first_delay: timedelta, attempts: int,
                 is_leader: Callable[[], bool] = lambda: True) -> None:
        self._events = events
        self._projections = projections
        self._view = view
        self._applied = applied
        self._sender = sender
        self._clock = clock
        self.interval = interval
        self._first_delay = first_delay
        self._attempts = attempts
        self._is_leader = is_leader
        self._recorded: OrderedDict[str, ev.AlertRaised | ev.AlertSent] = OrderedDict()
        """What this process recorded, in case the view has not shown it yet."""

    async def run(self) -> None:
        await repeat(self.tick, self.interval, "alert sweep tick")

    async def tick(self) -> list[ev.AlertSent]:
        """Raises what is due and tells whom it can; returns the attempts recorded."""
        if not self._is_leader() or not await self._view_current():
            return []
        policies = {a: p for a, p in self._view.registry.alerts.items() if p.active}
        expiries, unreadable = await self._expiries()
        alerts = {a: read_alerts(await self._projections.scan(ALERTS, a)) for a in policies}
        raised = {alert.alert_id for found in alerts.values() for alert, _ in found}
        raised |= {i for i, e in self._recorded.items() if isinstance(e, ev.AlertRaised)}
        sight = Sight(deliveries=await self._deliveries(policies),
                      expiries=[x for x, _ in expiries],
                      presence=await self._presence(policies), codes=self._codes())
        for alert in rules.due(policies, sight, raised, self._clock.now()):
            await record(self._events, alert)
            self._remember(alert.alert_id, alert)
            alerts.setdefault(alert.agency_id, []).append((alert, {}))
        now = self._clock.now()  # an expiry judged for good is not kept (after its alerts)
        judged = [ref for x, ref in expiries if rules.judged(policies, x, now)]
        if judged or unreadable:
            await self._projections.write(deletes=[*judged, *unreadable])
        return await self._send([(a, self._known(a, attempts))
                                 for found in alerts.values() for a, attempts in found])

    async def _send(self, alerts: list[tuple[ev.AlertRaised, dict[str, Attempt]]]
                    ) -> list[ev.AlertSent]:
        done = []
        for send in rules.sends_due(alerts, self._clock.now()):
            error = await self._try(send)
            attempt = rules.outcome(send, error, self._clock.now(),
                                    first_delay=self._first_delay, attempts=self._attempts)
            await record(self._events, attempt)
            self._remember(f"{send.alert.alert_id}|{send.contact}", attempt)
            done.append(attempt)
        return done

    async def _try(self, send: Send) -> str | None:
        agency = self._view.registry.agencies.get(send.alert.agency_id)
        try:
            await self._sender.send(send.alert, send.contact,
                                    agency.code if agency else send.alert.agency_id)
        except Exception as exc:  # any failure is recorded and retried, never fatal
            log.info("alert %s to %s failed: %s", send.alert.alert_id, send.contact, exc)
            return f"{type(exc).__name__}: {exc}"
        return None

    def _known(self, alert: ev.AlertRaised, attempts: dict[str, Attempt]) -> dict[str, Attempt]:
        """The view's attempts, and any this process recorded since that it lags."""
        found = dict(attempts)
        for contact in alert.contacts:
            mine = self._recorded.get(f"{alert.alert_id}|{contact}")
            if isinstance(mine, ev.AlertSent) and mine.attempt >= found.get(
                    contact, Attempt("", 0)).attempt:
                found[contact] = Attempt(mine.outcome, mine.attempt, mine.next_attempt_at)
        return found

    async def _view_current(self) -> bool:
        try:
            for partition, end in (await self._events.end_offsets(PRESENCE)).items():
                if end > 0:
                    await self._applied.wait(TRACKER, Position(PRESENCE, partition, end - 1),
                                             30)
        except TimeoutError:
            log.warning("alert sweep skips a tick: the alerts view is behind")
            return False
        return True

    async def _deliveries(self, policies: dict[str, AlertPolicy]) -> list[OpenDelivery]:
        if not any(p.unfetched_after is not None for p in policies.values()):
            return []
        found = []
        for shard in SHARDS:
            for row in await self._projections.scan(OPEN, shard):
                if row.body.get("agency_id") in policies:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        found.append(OpenDelivery.from_row(dict(row.body)))  # bad: watchdog's
        return found

    async def _expiries(self) -> tuple[list[tuple[Expiry, RowRef]], list[RowRef]]:
        """The expiries not judged yet, each with its row; and the rows that cannot be
        read (deleted: the alert they might have been is lost, never the sweep)."""
        found, unreadable = [], []
        for shard in SHARDS:
            for row in await self._projections.scan(EXPIRIES, shard):
                try:
                    package = await self._projections.get(package_ref(str(row.body.get(
                        "package_id"))))
                    source = "" if package is None else \
                        Package.from_json(dict(package.body)).source_agency_id
                    found.append((read_expiry(row.body, source), row.ref))
                except (ValueError, KeyError, TypeError):
                    unreadable.append(row.ref)
        return found, unreadable

    async def _presence(self, policies: dict[str, AlertPolicy]
                        ) -> dict[str, Presence | None]:
        return {a: await read_presence(self._projections, a) for a, p in policies.items()
                if p.offline_after is not None}

    def _codes(self) -> dict[str, str]:
        return {a.agency_id: a.code for a in self._view.registry.agencies.values()}

    def _remember(self, key: str, event: ev.AlertRaised | ev.AlertSent) -> None:
        self._recorded[key] = event
        self._recorded.move_to_end(key)
        if len(self._recorded) > REMEMBERED:
            self._recorded.popitem(last=False)
