"""Registry use cases: decide, record, wait until this node has seen the change.

Secrets are wrapped and stored *before* the ``KeyIssued`` event is recorded, so any node
that learns of a key can already find its secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hub import audit, bounds
from hub import events as ev
from hub.alerts.configure import PolicyRequest, set_policy
from hub.alerts.policy import AlertPolicy
from hub.errors import TrucError
from hub.ports import EventLog, KeyStore, KeyWrapper, Position
from hub.registry import decisions as decide
from hub.registry import signing as signing_policy
from hub.registry import succession, sync
from hub.registry.decisions import Context, IssuedKey
from hub.registry.model import Agency, App, Grants, Key, Operator, Registry
from hub.registry.sync import NationalAgency, Summary
from hub.registry.view import RegistryView
from hub.registry.webhook_targets import TargetPolicy
from hub.topics import REGISTRY, record, route
from hub.zones import decisions as zones
from hub.zones.model import Zone


@dataclass(frozen=True)
class NewKey:
    """A key as shown to its owner once: the secret is never shown again."""

    key: Key
    secret: str | None


class RegistryService:
    def __init__(self, view: RegistryView, log: EventLog, keys: KeyStore, wrapper: KeyWrapper,
                 *, domain: str, wait_seconds: float = 10) -> None:
        self.view = view
        self._log = log
        self._keys = keys
        self._wrapper = wrapper
        self._domain = domain
        self._wait = wait_seconds
        self._secrets: dict[str, str] = {}

    @property
    def registry(self) -> Registry:
        return self.view.registry

    async def catch_up(self, seconds: float = 10) -> None:
        """Waits until this node has folded every registry event recorded so far."""
        for partition, end in (await self._log.end_offsets(REGISTRY)).items():
            if end > 0:
                await self.view.reached(Position(REGISTRY, partition, end - 1), seconds)

    async def _record(self, *events: ev.Event) -> None:
        """Each action, then its audit link (``_link``)."""
        for event in events:
            position = await record(self._log, event)
            await self.view.reached(position, self._wait)
            await self._link(event, position)

    async def _link(self, action: ev.Event, position: Position) -> None:
        """Records the audit link that vouches for ``action``, recorded at ``position``
        and already seen by this node: the head of its partition's chain is then the link
        before it. Every registry action goes through here, one at a time per partition
        (the chain is an order)."""
        _, key = route(action)
        head = self.view.chain_heads.get(position.partition, audit.GENESIS)
        linked = audit.link(action, key, head, _link_envelope(action))
        await self.view.reached(await record(self._log, linked), self._wait)

    async def _store_secret(self, issued: IssuedKey) -> None:
        if issued.secret is not None:
            blob = self._wrapper.wrap(issued.secret.encode(), issued.event.key_id.encode())
            await self._keys.put(issued.event.key_id, blob)

    def _new_key(self, issued: IssuedKey) -> NewKey:
        return NewKey(self.registry.keys[issued.event.key_id], issued.secret)

    async def add_agency(self, ctx: Context, code: str, name: str) -> Agency:
        event = decide.register_agency(self.registry, ctx, code, name, self._domain)
        await self._record(event)
        return self.registry.agencies[event.agency_id]

    async def succeed(self, ctx: Context, old_codes: list[str], new_code: str, *,
                      effective_at: datetime, reason: str, name: str | None = None
                      ) -> Agency:
        """Records a succession (``hub.registry.succession``); returns the successor."""
        event = succession.succeed(self.registry, ctx, old_codes, new_code,
                                   effective_at=effective_at, reason=reason,
                                   domain=self._domain, name=name)
        await self._record(event)
        return self.registry.agencies[event.agency_id]

    async def configure_zone(self, ctx: Context, name: str, url: str, access_key: str,
                             secret_key: str | None, *, codes: Iterable[str] = (),
                             branches: Iterable[str] = (), provinces: Iterable[str] = (),
                             protocol: str = "truc", local_key: str = "") -> Zone:
        """Sets a zone (``hub.zones``): the peer's secret, when given, is wrapped and
        stored before the event names it, as a key's secret is."""
        event = zones.configure_zone(self.registry, ctx, name, url, access_key, codes=codes,
                                     branches=branches, provinces=provinces,
                                     new_secret=bool(secret_key), protocol=protocol,
                                     local_key=local_key)
        if secret_key:
            secret = bounds.check_token(secret_key, "secret_key", 200, code="invalid_zone")
            await self._keys.put(event.secret_id,
                                 self._wrapper.wrap(secret.encode(), event.secret_id.encode()))
        await self._record(event)
        return self.registry.zones[event.zone]

    async def remove_zone(self, ctx: Context, name: str, reason: str) -> None:
        await self._record(zones.remove_zone(self.registry, ctx, name, reason))

    async def record_many(self, events: Iterable[ev.Event], window: int = 1000) -> int:
        """Appends many registry events (a directory sync), ``window`` at a time in one
        ``append_each`` (one SQLite transaction; a Kafka batch per partition), and waits
        after each window until this node has folded it: the stream stays bounded and
        never runs ahead of the registry its next decisions read. Each action is chained
        in the audit trail as ``_record`` chains one, its links appended together too.
        Returns how many were recorded."""
        count, pending = 0, list[ev.Event]()
        for event in events:
            pending.append(event)
            if len(pending) >= window:
                count += await self._settle(pending)
                pending = []
        if pending:
            count += await self._settle(pending)
        return count

    async def _settle(self, actions: list[ev.Event]) -> int:
        positions = await self._log.append_each(REGISTRY, [(route(a)[1], a) for a in actions])
        await self._reached_all(positions)
        links: dict[int, list[ev.AuditLinked]] = {}
        # in log order: concurrent appends may land in another order than ``actions``
        for position, action in sorted(zip(positions, actions, strict=True),
                                       key=lambda found: found[0]):
            chain = links.setdefault(position.partition, [])
            head = chain[-1].hash if chain else \
                self.view.chain_heads.get(position.partition, audit.GENESIS)
            chain.append(audit.link(action, route(action)[1], head, _link_envelope(action)))
        # each link under its action's key, so in its partition, in chain order
        done = await self._log.append_each(
            REGISTRY, [(link.key, link) for chain in links.values() for link in chain])
        await self._reached_all(done)
        return len(positions)

    async def _reached_all(self, positions: Iterable[Position]) -> None:
        last: dict[tuple[str, int], Position] = {}
        for position in positions:
            last[(position.topic, position.partition)] = max(
                position, last.get((position.topic, position.partition), position))
        for position in last.values():
            await self.view.reached(position, self._wait)

    async def sync(self, ctx: Context, rows: Iterable[NationalAgency], *, apply: bool,
                   reason: str = "national agency list") -> Summary:
        """Compares a national list with the registry (``hub.registry.sync``); with
        ``apply``, records each change as its registry event, streaming. A change the
        registry refuses (a name too long…) is counted as invalid, never half applied."""
        summary = Summary()

        def events() -> Iterator[ev.Event]:
            for change in sync.changes(self.registry, rows, summary):
                try:
                    event = sync.event_of(self.registry, ctx, change, domain=self._domain,
                                          reason=reason)
                except TrucError as exc:
                    summary.add(replace(change, kind=sync.INVALID, detail=exc.detail))
                    continue
                summary.add(change)
                if event is not None:
                    yield event

        if apply:
            await self.record_many(events())
        else:
            for _ in events():
                pass
        return summary

    async def add_app(self, ctx: Context, agency_code: str, name: str,
                      rsa_public_key_pem: str | None = None) -> App:
        event = decide.register_app(self.registry, ctx, agency_code, name, rsa_public_key_pem)
        await self._record(event)
        return self.registry.apps[event.app_id]

    async def approve_app(self, ctx: Context, app_id: str, grants: Grants) -> tuple[App, NewKey]:
        approved, issued = decide.approve_app(self.registry, ctx, app_id, grants)
        await self._store_secret(issued)
        await self._record(approved, issued.event)
        return self.registry.apps[app_id], self._new_key(issued)

    async def revoke_app(self, ctx: Context, app_id: str, reason: str) -> App:
        await self._record(*decide.revoke_app(self.registry, ctx, app_id, reason))
        return self.registry.apps[app_id]

    async def rotate_key(self, ctx: Context, principal_id: str, overlap: timedelta) -> NewKey:
        issued, retired = decide.rotate_key(self.registry, ctx, principal_id, overlap)
        await self._store_secret(issued)
        await self._record(issued.event, *retired)
        return self._new_key(issued)

    async def add_operator(self, ctx: Context, name: str, role: str,
                           agency_code: str | None) -> tuple[Operator, NewKey]:
        operator, issued = decide.register_operator(self.registry, ctx, name, role, agency_code)
        await self._store_secret(issued)
        await self._record(operator, issued.event)
        return self.registry.operators[operator.operator_id], self._new_key(issued)

    async def configure_webhook(self, ctx: Context, app_id: str, url: str,
                                policy: TargetPolicy) -> str | None:
        """Returns the new signing secret (shown once), or None when the webhook is removed."""
        event = decide.configure_webhook(self.registry, ctx, app_id, url, policy)
        secret = decide.new_secret() if url else None
        if secret is not None:
            await self._keys.put(event.key_id,
                                 self._wrapper.wrap(secret.encode(), event.key_id.encode()))
        await self._record(event)
        return secret

    async def set_alerts(self, ctx: Context, agency_code: str, request: PolicyRequest,
                         targets: TargetPolicy) -> AlertPolicy:
        """Replaces an agency's alert contacts and policy (audited like every action)."""
        event = set_policy(self.registry, ctx, agency_code, request, targets)
        await self._record(event)
        return self.registry.alerts[event.agency_id]

    async def set_signing(self, ctx: Context, code: str, signing: str,
                          certificates: list[str] | None = None) -> Agency:
        """Requires (or no longer requires) signed edXML documents from an agency, maybe
        by the certificates of its trust list only."""
        agency, event = signing_policy.set_policy(self.registry, ctx, code, signing,
                                                  certificates or ())
        if event is None:
            return agency
        await self._record(event)
        return self.registry.agencies[agency.agency_id]

    async def secret_by_id(self, key_id: str) -> str | None:
        blob = await self._keys.get(key_id)
        return None if blob is None else self._wrapper.unwrap(blob, key_id.encode()).decode()

    async def secret(self, key: Key) -> str | None:
        """The HMAC secret of a key, unwrapped once and then kept in memory."""
        if key.key_id not in self._secrets:
            blob = await self._keys.get(key.key_id)
            if blob is None:
                return None
            plain = self._wrapper.unwrap(blob, key.key_id.encode())
            self._secrets[key.key_id] = plain.decode()
        return self._secrets[key.key_id]


def _link_envelope(action: ev.Event) -> ev.Envelope:
    return {"event_id": str(uuid.uuid4()), "occurred_at": action.occurred_at,
            "actor": action.actor, "correlation_id": action.correlation_id}
