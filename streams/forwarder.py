"""The forwarder: deliveries to another zone go to its hub, and their outcome comes back.

For each ``DeliveryPlanned`` to a peer destination (``peer:<code>``, ``hub.zones.peers``)
it writes a row in the ``forward_outbox`` view, with the event's tracking record (as the
webhook processor writes its posts), and works it in the background:

1. **send**: the content, read from this hub's vault range by range (never spooled to a
   file), is sent to the zone's hub with the project's client, as the app this hub is
   there, with an ``Idempotency-Key`` derived from the package and the code and the trace
   of hubs crossed (``hub.zones.forwarding``); then ``DeliveryNotified`` (channel ``zone``).
   A refusal no retry changes (a 4xx: unknown recipient, a loop…) closes the delivery
   (``DeliveryExpired``, ``peer_refused: <code>``);
2. **follow**: the peer's view of the forwarded package is read every
   ``ZONE_POLL_SECONDS``, and what changed is recorded here as if local (fetched,
   acknowledged, statuses, closed), until ``followed_enough``.

An unreachable peer, an engine outage, anything unexpected: the row waits, with backoff
from ``ZONE_RETRY_SECONDS`` doubling to a minute, for as long as it takes; no error ever
reaches the processor's loop, which goes on with the next event. The rows survive a
restart: whoever holds the packages partitions resumes them (embedded: at start and every
``WEBHOOK_RESUME_SECONDS``), and every step is idempotent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from api.client import TrucClient
from api.client import TrucError as PeerRefused
from hub import events as ev
from hub.packages.model import RECALL_REQUESTED, Package
from hub.ports import Clock, EventLog, Projections, Recorded, Row, RowRef
from hub.registry.view import RegistryView
from hub.zones import forwarding as rules
from hub.zones.decisions import routed_zone
from hub.zones.model import TRUC, Zone
from hub.zones.peers import peer_code, peer_id
from infra.vault import Vault
from streams.applied import Applied
from streams.relay import DEFAULT_PACE, Pace, Relay, Step, follow_until
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)
OUTBOX = "forward_outbox"
TOLD = {"cancel": "cancelled", "extend": "deadline", "recall": "recalls"}
"""Where a row keeps what the peer was told of each kind of the source's changes."""
RECALL_NOTE = "the source asks to recall this document (13)"


SecretLookup = Callable[[str], Awaitable[str | None]]
PeerClient = Callable[[Zone, str], TrucClient]


def outbox_ref(partition: int, package_id: str, code: str) -> RowRef:
    return RowRef(OUTBOX, str(partition), f"{package_id}|{code}")


def _client(zone: Zone, secret: str) -> TrucClient:
    return TrucClient(zone.url, zone.access_key, secret, timeout=60)


class ForwardProcessor(Relay):
    """Forwards deliveries to other zones: a relay (``streams/relay.py``) whose rows are
    forwarded deliveries, one per (package, code), worked until the peer's leg ends."""

    name = "forwarder"
    outbox = OUTBOX

    def __init__(self, events: EventLog, projections: Projections, view: RegistryView,
                 vault: Vault, secret_of: SecretLookup, *, clock: Clock, hub_name: str,
                 pace: Pace = DEFAULT_PACE, applied: Applied | None = None,
                 tracking: TrackingCache | None = None, client: PeerClient = _client) -> None:
        super().__init__(events, projections, view, vault, clock=clock, pace=pace,
                         applied=applied, tracking=tracking)
        self._secret_of = secret_of
        self._hub = hub_name
        self._peers: dict[tuple[str, str, str], TrucClient] = {}
        self._client = client

    async def rows_for(self, recorded: Recorded) -> list[Row]:
        event = recorded.event
        code = peer_code(event.destination_agency_id) \
            if isinstance(event, ev.DeliveryPlanned) else None
        if code is None or not isinstance(event, ev.DeliveryPlanned):
            return []
        return [Row(outbox_ref(recorded.position.partition, event.package_id, code),
                    {"package_id": event.package_id, "code": code, "phase": "send",
                     "statuses": 0})]

    async def close(self) -> None:
        await super().close()
        for key in list(self._peers):
            await self._drop(key)

    async def work(self, ref: RowRef, row: dict[str, Any]) -> None:
        await self._repeat(lambda: self._done_or(ref, row),
                           f"forwarding {row['package_id']} to {row['code']}")

    async def _done_or(self, ref: RowRef, row: dict[str, Any]) -> Step:
        found = await self._step(ref, row)
        if found is Step.DONE:
            await self._projections.write(deletes=[ref])
        return found

    async def _step(self, ref: RowRef, row: dict[str, Any]) -> Step:
        """One pass: DONE once the row is done, CHANGED when it moved, IDLE otherwise."""
        code: str = row["code"]
        pkg = await self._package(row["package_id"])
        now = self._clock.now()
        local = None if pkg is None else pkg.deliveries.get(peer_id(code))
        if pkg is None or local is None:
            return Step.IDLE  # the package row does not show the planning yet
        if row["phase"] == "send" and (local.state.closed or pkg.shredded):
            return Step.DONE  # recalled, expired or redirected before it was forwarded
        zone = routed_zone(self._view.registry, code)
        if zone is None:
            # no zone: the watchdog expires it
            return Step.DONE if local.state.closed else Step.IDLE
        if zone.protocol != TRUC:
            return Step.DONE  # the national axis's: the gateway forwards it (streams/gateway.py)
        secret = await self._secret_of(zone.secret_id)
        if secret is None:
            raise LookupError(f"no secret for zone {zone.name}")
        key = (zone.url, zone.access_key, secret)
        try:
            peer = await self._peer(zone, secret, key)
            if row["phase"] == "send":
                return await self._send(ref, row, pkg, zone, peer, now=now)
            return await self._follow_once(ref, row, pkg, zone, peer, now=now)
        except Exception:
            await self._drop(key)  # a new connection (and clock offset) next time
            raise

    async def _peer(self, zone: Zone, secret: str, key: tuple[str, str, str]) -> TrucClient:
        """One client per peer key, shared by every delivery forwarded with it."""
        found = self._peers.get(key)
        if found is None:
            found = self._client(zone, secret)
            await found.__aenter__()
            self._peers[key] = found
        return found

    async def _drop(self, key: tuple[str, str, str]) -> None:
        found = self._peers.pop(key, None)
        if found is not None:
            with contextlib.suppress(Exception):
                await found.__aexit__(None, None, None)

    async def _send(self, ref: RowRef, row: dict[str, Any], pkg: Package, zone: Zone,
                    peer: TrucClient, *, now: datetime) -> Step:
        code: str = row["code"]
        forward = rules.forward_of(pkg, code, self._hub)
        try:
            sent = await peer.send_from(
                forward.recipients, forward.title, forward.size, forward.sha256,
                self._reader(pkg), idempotency_key=forward.idempotency_key,
                data_type=forward.data_type, priority=forward.priority,
                deadline=forward.deadline, offline_wait_seconds=forward.offline_wait_seconds,
                trace=forward.trace)
        except PeerRefused as refused:
            if refused.status >= 500 or refused.status in (401, 408, 429) or \
                    refused.retriable:
                raise
            await self._record(rules.refused(pkg, code, zone.name, now, refused.code))
            return Step.DONE
        row.update(phase="follow", peer_package_id=sent["package_id"], zone=zone.name,
                   deadline=forward.deadline)
        await self._projections.write([Row(ref, row)])
        await self._record(rules.forwarded(pkg, code, zone.name, now))
        return Step.CHANGED

    async def _follow_once(self, ref: RowRef, row: dict[str, Any], pkg: Package,
                           zone: Zone, peer: TrucClient, *, now: datetime) -> Step:
        code: str = row["code"]
        changed = await self._tell(ref, row, pkg, peer)
        view = await peer.package(row["peer_package_id"])
        delivery = rules.peer_delivery(view, code)
        if delivery is not None:
            mirrored = rules.mirror(pkg, code, zone.name, delivery,
                                    statuses_seen=int(row.get("statuses", 0)), now=now)
            await self._record(mirrored)
            seen = len(delivery.get("statuses") or [])
            changed = changed or bool(mirrored)
            if seen != row.get("statuses"):
                changed = True
            row["statuses"] = seen
            if delivery.get("state") == "acknowledged":
                changed = self._acknowledged(row, now) or changed
            if changed:
                await self._projections.write([Row(ref, row)])
        after = await self._package(row["package_id"])
        if rules.followed_enough(after, code, delivery, follow_until(row), now,
                                 cancelled=bool(row.get("cancelled"))):
            return Step.DONE
        return Step.CHANGED if changed else Step.IDLE

    async def _tell(self, ref: RowRef, row: dict[str, Any], pkg: Package,
                    peer: TrucClient) -> bool:
        """Does on the peer's copy what the source changed here (recall, redirect,
        extension); a peer that says it is too late (409: acknowledged, closed) was told."""
        code, peer_package = row["code"], row["peer_package_id"]
        actions = rules.source_changes(pkg, code, told_deadline=row.get("deadline"),
                                       cancelled=bool(row.get("cancelled")),
                                       recalls_told=int(row.get("recalls", 0)))
        for action in actions:
            try:
                await self._do(peer, peer_package, code, action)
            except PeerRefused as refused:
                if refused.status != 409:
                    raise
            row[TOLD[action.kind]] = True if action.kind == "cancel" else action.value
            await self._projections.write([Row(ref, row)])
        return bool(actions)

    @staticmethod
    async def _do(peer: TrucClient, peer_package: str, code: str,
                  action: rules.PeerAction) -> None:
        if action.kind == "cancel":
            await peer.cancel(peer_package, code, action.value[:500])
        elif action.kind == "recall":
            await peer.report_status(peer_package, RECALL_REQUESTED, RECALL_NOTE,
                                     destination=code)
        else:
            await peer.extend(peer_package, code, action.value)

    def _reader(self, pkg: Package) -> Callable[[int, int], Awaitable[bytes]]:
        """Bytes ``offset..offset+length`` of the package's content, from its chunks."""
        async def read(offset: int, length: int) -> bytes:
            size = pkg.chunk_size
            first, last = offset // size, (offset + length - 1) // size
            parts = [c async for c in self._vault.chunks(pkg.package_id, first, last)]
            joined = b"".join(parts)
            start = offset - first * size
            return joined[start:start + length]
        return read
