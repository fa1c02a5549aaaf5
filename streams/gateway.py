"""The gateway: this hub as a client of the upstream national axis (``hub.axis.gateway``).

``GatewayProcessor`` is a relay (``streams/relay.py``, as the zone forwarder: an outbox)
over the packages topic. Its rows:

- ``up``: a delivery planned for a code routed to the axis (the routing table's zone of
  protocol ``axis``, the default route). **send**: the package's content, whole, with
  ``sendEdoc`` (once per package: its ``DocId`` is kept in the ``gateway_sent`` view, and
  the other destinations' rows find it there), then ``DeliveryNotified`` (channel
  ``zone``); a refusal no retry changes closes the delivery (``peer_refused: <code>``).
  **follow**: ``getSentEdocList`` is read every ``ZONE_POLL_SECONDS`` (less and less
  often while nothing changes) and the destination's fetch, acknowledgement and statuses
  recorded here as if local, until ``hub.zones.forwarding.followed_enough``.
- ``update``: a package brought in from the axis was acknowledged, its destination
  reported a national status, or the seal refused it: ``updateStatus`` (``done``, the
  code, ``fail``), in the order the events came.

``AxisPoller`` brings documents in: every ``AXIS_POLL_SECONDS`` it lists what the axis
holds for this hub (``getReceivedEdocList``), fetches each one not brought in yet
(``getEdoc``) and hands it to ``bring_in`` (the one-call send, as the zone's local app,
with an idempotency key derived from the axis's ``docId``: a poll repeated after a crash
brings nothing twice). Failures wait and are tried again; none ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from hub import events as ev
from hub.axis import gateway as rules
from hub.packages.model import Package
from hub.ports import Clock, EventLog, Projections, Recorded, Row, RowRef
from hub.registry.view import RegistryView
from hub.zones import forwarding
from hub.zones.decisions import routed_zone
from hub.zones.model import AXIS, Zone, axis_zone
from hub.zones.peers import is_peer, peer_code, peer_id
from infra.axis_client import AxisClient, AxisError
from infra.vault import Vault
from streams.applied import Applied
from streams.relay import DEFAULT_PACE, Pace, Relay, Step, follow_until
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)
OUTBOX = "gateway_outbox"
SENT = "gateway_sent"
SecretLookup = Callable[[str], Awaitable[str | None]]
ClientFactory = Callable[[Zone, str], AxisClient]


def sent_ref(package_id: str) -> RowRef:
    return RowRef(SENT, package_id, "doc")


class Done(Exception):
    """The row's work is over."""


class Clients:
    """One axis client per account (URL, systemid, secret), shared by every row."""

    def __init__(self, secret_of: SecretLookup, make: ClientFactory) -> None:
        self._secret_of = secret_of
        self._make = make
        self._open: dict[tuple[str, str, str], AxisClient] = {}

    async def of(self, zone: Zone) -> AxisClient:
        secret = await self._secret_of(zone.secret_id)
        if secret is None:
            raise LookupError(f"no secret for the axis zone {zone.name}")
        key = (zone.url, zone.access_key, secret)
        found = self._open.get(key)
        if found is None:
            found = self._open[key] = self._make(zone, secret)
        return found

    async def close(self) -> None:
        for client in list(self._open.values()):
            with contextlib.suppress(Exception):
                await client.close()
        self._open.clear()


class GatewayProcessor(Relay):
    name = "gateway"
    outbox = OUTBOX

    def __init__(self, events: EventLog, projections: Projections, view: RegistryView,
                 vault: Vault, clients: Clients, *, clock: Clock, pace: Pace = DEFAULT_PACE,
                 applied: Applied | None = None, tracking: TrackingCache | None = None
                 ) -> None:
        super().__init__(events, projections, view, vault, clock=clock, pace=pace,
                         applied=applied, tracking=tracking)
        self._clients = clients
        self._locks: dict[str, asyncio.Lock] = {}
        self._sent: tuple[float, list[dict[str, Any]]] | None = None
        self._sent_lock = asyncio.Lock()

    async def rows_for(self, recorded: Recorded) -> list[Row]:
        event, partition = recorded.event, recorded.position.partition
        if isinstance(event, ev.DeliveryPlanned):
            code = peer_code(event.destination_agency_id)
            zone = None if code is None else routed_zone(self._view.registry, code)
            if code is None or zone is None or zone.protocol != AXIS:
                return []
            return [Row(RowRef(OUTBOX, str(partition), f"{event.package_id}|{code}"),
                        {"kind": "up", "package_id": event.package_id, "code": code,
                         "phase": "send", "statuses": []})]
        if not isinstance(event, ev.DeliveryAcknowledged | ev.StatusReported
                          | ev.PackageRejected):
            return []
        app_id = self._axis_app()
        pkg = await self._package(event.package_id) if app_id else None
        found = None if pkg is None or app_id is None else rules.update_for(event, pkg, app_id)
        if found is None:
            return []
        key = f"{event.package_id}|up|{recorded.position.offset:012d}"
        return [Row(RowRef(OUTBOX, str(partition), key),
                    {"kind": "update", "package_id": event.package_id, "doc_id": found[0],
                     "status": found[1]})]

    def _axis_app(self) -> str | None:
        reg = self._view.registry
        zone = axis_zone(reg.zones)
        key = reg.key(zone.local_key) if zone is not None and zone.local_key else None
        return None if key is None else key.principal_id

    async def close(self) -> None:
        await super().close()
        await self._clients.close()

    async def work(self, ref: RowRef, row: dict[str, Any]) -> None:
        await self._repeat(lambda: self._step(ref, row),
                           f"gateway {row['kind']} {row['package_id']}")

    async def _step(self, ref: RowRef, row: dict[str, Any]) -> Step:
        lock = self._locks.setdefault(row["package_id"], asyncio.Lock())
        async with lock:  # one sendEdoc per package; updates in their order
            try:
                changed = await (self._up(ref, row) if row["kind"] == "up"
                                 else self._update(row))
            except Done:
                await self._projections.write(deletes=[ref, *await self._sent_done(row)])
                return Step.DONE
        return Step.CHANGED if changed else Step.IDLE

    async def _sent_done(self, row: dict[str, Any]) -> list[RowRef]:
        """The package's ``DocId`` row, once no delivery of it to a peer is open (none
        may still have to be sent)."""
        if row["kind"] != "up":
            return []
        pkg = await self._package(row["package_id"])
        if pkg is not None and any(is_peer(a) and not d.state.closed
                                   for a, d in pkg.deliveries.items()):
            return []
        return [sent_ref(row["package_id"])]

    async def _update(self, row: dict[str, Any]) -> bool:
        zone = axis_zone(self._view.registry.zones)
        if zone is None:
            raise Done  # no axis any more: nobody to tell
        client = await self._clients.of(zone)
        try:
            await client.update_status(row["doc_id"], row["status"])
        except AxisError as refused:
            if refused.retriable:
                raise
            log.warning("the axis refused updateStatus %s of %s: %s", row["status"],
                        row["doc_id"], refused)
        raise Done

    async def _up(self, ref: RowRef, row: dict[str, Any]) -> bool:
        code: str = row["code"]
        pkg = await self._package(row["package_id"])
        local = None if pkg is None else pkg.deliveries.get(peer_id(code))
        if pkg is None or local is None:
            return False  # the package row does not show the planning yet
        if row["phase"] == "send" and (local.state.closed or pkg.shredded):
            raise Done  # recalled, expired or redirected before it was sent
        zone = routed_zone(self._view.registry, code)
        if zone is None or zone.protocol != AXIS:
            if local.state.closed:
                raise Done
            return False  # the watchdog expires it, or the route comes back
        now = self._clock.now()
        client = await self._clients.of(zone)
        if row["phase"] == "send":
            return await self._send(ref, row, pkg, zone, client, now=now)
        return await self._follow_once(ref, row, pkg, zone, client, now=now)

    async def _send(self, ref: RowRef, row: dict[str, Any], pkg: Package, zone: Zone,
                    client: AxisClient, *, now: datetime) -> bool:
        code: str = row["code"]
        why = rules.refusal(pkg)
        doc_id = None if why else await self._sent_doc(pkg.package_id)
        if why is None and doc_id is None:
            content = await self._content(pkg)
            try:
                doc_id = await client.send_edoc(content, rules.message_type(content))
            except AxisError as refused:
                if refused.retriable:
                    raise
                why = refused.code
            else:
                await self._projections.write([Row(sent_ref(pkg.package_id),
                                                   {"doc_id": doc_id})])
        if why is not None or doc_id is None:
            await self._record(forwarding.refused(pkg, code, zone.name, now, why or ""))
            raise Done
        row.update(phase="follow", doc_id=doc_id, zone=zone.name)
        await self._projections.write([Row(ref, row)])
        await self._record(forwarding.forwarded(pkg, code, zone.name, now))
        return True

    async def _sent_doc(self, package_id: str) -> str | None:
        found = await self._projections.get(sent_ref(package_id))
        return None if found is None else str(found.body["doc_id"])

    async def _follow_once(self, ref: RowRef, row: dict[str, Any], pkg: Package,
                           zone: Zone, client: AxisClient, *, now: datetime) -> bool:
        code: str = row["code"]
        before = tuple(row.get("statuses") or ())
        seen = rules.seen(await self._sent_list(client), row["doc_id"], code, before)
        changed = False
        if seen is not None:
            mirrored = forwarding.mirror(pkg, code, zone.name, seen.as_peer(),
                                         statuses_seen=len(before), now=now)
            await self._record(mirrored)
            changed = bool(mirrored) or seen.statuses != before
            row["statuses"] = list(seen.statuses)
            if seen.state == "acknowledged":
                changed = self._acknowledged(row, now) or changed
            if changed:
                await self._projections.write([Row(ref, row)])
        after = await self._package(row["package_id"])
        if forwarding.followed_enough(after, code, seen.as_peer() if seen else None,
                                      follow_until(row), now, cancelled=True):
            raise Done  # a recall here cannot be told to the axis: nothing to wait for
        return changed

    async def _sent_list(self, client: AxisClient) -> list[dict[str, Any]]:
        """``getSentEdocList``, read once per poll interval for every row following (the
        axis answers every document sent lately: one call per row would repeat it)."""
        async with self._sent_lock:
            now = asyncio.get_running_loop().time()
            if self._sent is None or now - self._sent[0] >= self._pace.poll / 2:
                self._sent = (now, await client.sent())
            return self._sent[1]

    async def _content(self, pkg: Package) -> bytes:
        """The whole content (``sendEdoc`` carries one file in one body)."""
        last = max(0, -(-pkg.size // pkg.chunk_size) - 1)
        return b"".join([c async for c in self._vault.chunks(pkg.package_id, 0, last)])


BringIn = Callable[[Zone, str, bytes], Awaitable[None]]
Known = Callable[[Zone, str], Awaitable[bool]]


class AxisPoller:
    """Brings in what the axis holds for this hub: one loop per serving node (two nodes
    bringing in one document record it once: the one-call send's idempotency claim)."""

    def __init__(self, view: RegistryView, clients: Clients, known: Known,
                 bring_in: BringIn, *, interval: float) -> None:
        self._view = view
        self._clients = clients
        self._known = known
        self._bring_in = bring_in
        self._interval = interval
        self._elsewhere: set[str] = set()
        """Documents naming no agency here: left on the axis, not fetched again."""

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the axis unreachable, an engine outage
                log.info("polling the national axis failed: %s", exc)
            await asyncio.sleep(self._interval)

    async def poll_once(self) -> int:
        """One round; how many documents it brought in."""
        reg = self._view.registry
        zone = axis_zone(reg.zones)
        if zone is None or not zone.local_key:
            return 0
        client = await self._clients.of(zone)
        brought = 0
        for item in await client.received():
            doc_id = str(item.get("docId") or "")
            if not doc_id or doc_id in self._elsewhere:
                continue
            try:
                brought += await self._one(zone, client, doc_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # this one waits for the next round; not the others
                log.warning("bringing in %s from the national axis failed: %s", doc_id, exc)
        return brought

    async def _one(self, zone: Zone, client: AxisClient, doc_id: str) -> int:
        if await self._known(zone, doc_id):
            return 0
        content = await client.get_edoc(doc_id)
        if not rules.addressed_here(content,
                                    lambda c: self._view.registry.agency(c) is not None):
            self._elsewhere.add(doc_id)
            log.warning("the axis holds %s for this hub, naming no agency here", doc_id)
            return 0
        await self._bring_in(zone, doc_id, content)
        return 1

    async def close(self) -> None:
        await self._clients.close()
