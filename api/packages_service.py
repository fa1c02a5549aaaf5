"""The package use cases for the API: decide, record, and wait for the package's read
model when the next call depends on it (read your writes)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from api import documents_service as documents
from api.runtime import Runtime
from hub import events as ev
from hub.auth.sessions import Caller
from hub.deadlines import actions
from hub.deadlines.rules import waiting_for_receiver
from hub.errors import RangeNotSatisfiable, Unavailable
from hub.packages import decisions as decide
from hub.packages import follow_ups
from hub.packages.decisions import Limits, SendRequest
from hub.packages.model import Package, PackageState, evolve
from hub.packages.processor import TRACKER, package_ref, shows
from hub.ports import Position
from hub.registry.decisions import Context
from hub.topics import PACKAGES, record, record_all
from infra.leases import Lease


class Packages:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        s = runtime.settings
        self.limits = Limits(s.max_package_bytes, s.chunk_bytes,
                             timedelta(minutes=s.space_ttl_minutes), s.hub_name or s.domain)

    def ctx(self, caller: Caller) -> Context:
        return Context(caller.app.app_id, self.rt.backend.clock.now(), str(uuid.uuid4()))

    async def load(self, package_id: str) -> Package | None:
        row = await self.rt.backend.projections.get(package_ref(package_id))
        return None if row is None else Package.from_json(dict(row.body))

    def waiting(self, pkg: Package) -> dict[str, datetime]:
        """Deliveries whose destination has no receiving app yet, and until when the hub
        waits for one (Điều 5.9: the source is told at once)."""
        return waiting_for_receiver(pkg, self.rt.view.registry,
                                    timedelta(seconds=self.rt.settings.receiver_wait_seconds))

    async def settled(self, position: Position) -> None:
        await self.rt.applied.wait(TRACKER, position, self.rt.settings.read_your_writes_seconds)

    async def _record(self, *events: ev.Event) -> Position:
        positions = [await record(self.rt.backend.events, e) for e in events]
        try:
            await self.settled(positions[-1])
        except TimeoutError:
            raise Unavailable("recorded, but the package processor is behind; retry the read",
                              code="processor_lagging") from None
        return positions[-1]

    async def request(self, caller: Caller, req: SendRequest) -> Package:
        """A send request. With an Idempotency-Key, one key is one ``PackageRequested``
        in the log: the package id derives from (app, key), a retry that finds the
        package answers with it, and the call that records it first claims it
        (``_claim``), so two retries racing on one node or on two record it once."""
        earlier = await self._earlier(caller, req)
        if earlier is not None and earlier.space_expires_at is not None:
            return earlier
        requested, space = decide.request_package(self.rt.view.registry, caller,
                                                  self.ctx(caller), req, self.limits)
        if req.idempotency_key and not await self._claim(f"requested/{requested.package_id}"):
            settled = await self._awaited(requested.package_id,
                                          lambda p: p.space_expires_at is not None)
            decide.check_same_request(settled, req)
            return settled
        await self.rt.vault.create_key(requested.package_id)
        # A retry that found the package without its space (the first call was cut between
        # its two appends) grants it: the retry gets a usable space.
        await self._record(*decide.still_to_open(earlier, requested, space))
        return await self._granted(requested.package_id)

    async def _earlier(self, caller: Caller, req: SendRequest) -> Package | None:
        """The package an earlier call with the same Idempotency-Key recorded (checked to
        be the same request), or None. An earlier call may have recorded it and its claim
        expired before the processor could apply it (an outage longer than the lease):
        not found, it is looked for again on a read model that has applied everything the
        log holds, before the caller claims it."""
        if not req.idempotency_key:
            return None
        package_id = decide.new_package_id(caller.app.app_id, req.idempotency_key)
        earlier = await self.load(package_id)
        if earlier is None:
            await self._caught_up()
            earlier = await self.load(package_id)
        if earlier is None or earlier.source_app_id != caller.app.app_id:
            return None
        decide.check_same_request(earlier, req)
        return earlier

    async def _granted(self, package_id: str) -> Package:
        """The package once its row shows the space. The processor's tracking record
        can be read before the row written with it (on Cassandra one logged batch, atomic
        but not isolated): a space answered from the row before it had no chunks, the
        client uploaded nothing, and its seal met ``409 chunks_missing``."""
        try:
            async with asyncio.timeout(self.rt.settings.read_your_writes_seconds):
                return await polled(lambda: self.load(package_id),
                                    lambda p: p.space_expires_at is not None, 0.002, 0.05)
        except TimeoutError:  # recorded; the row not readable yet (an engine just came back)
            raise Unavailable("recorded, but the package is not readable yet; retry with the "
                              "same Idempotency-Key", code="processor_lagging") from None

    async def send(self, caller: Caller, req: SendRequest, content: bytes,
                   deadline: datetime | None, offline_wait_seconds: int | None) -> Package:
        """A package whose content fits one chunk, in one call: request, space, chunk and
        seal decided here, then recorded as one atomic batch (``record_all``) — the same
        events as the chunked path, so every processor and read model takes them as they
        are. Answered like a seal: the package with its deliveries planned, or rejected.

        Idempotent on the Idempotency-Key, like ``request``: a retry finds the package
        and answers with it; one that finds the space a chunked call opened with the same
        key fills and seals it; two racing record it once (the same claim as
        ``request``)."""
        req = replace(req, size=len(content))
        earlier = await self._earlier(caller, req)
        if earlier is not None and earlier.state is not PackageState.UPLOADING:
            return earlier
        ctx = self.ctx(caller)
        requested, space = decide.request_package(self.rt.view.registry, caller, ctx, req,
                                                  self.limits)
        decide.one_chunk(space, self.limits)
        package_id = requested.package_id
        opened = decide.still_to_open(earlier, requested, space)
        pkg = _folded(earlier, opened)
        pkg = decide.own_upload(pkg, caller, ctx.now)
        digest = hashlib.sha256(content).hexdigest()
        decide.check_chunk(pkg, 0, len(content), digest, digest)
        stored = decide.chunk_stored(ctx, pkg, 0, len(content), digest)
        if req.idempotency_key and not await self._one_call_claims(package_id, earlier):
            return await self._awaited(package_id, _sealed_and_planned)
        await self.rt.vault.create_key(package_id)
        await self.rt.vault.put_chunk(package_id, 0, content)
        sealing = await self._sealing(ctx, caller, pkg, [0], digest, deadline=deadline,
                                      offline_wait_seconds=offline_wait_seconds, content=content)
        positions = await record_all(self.rt.backend.events, [*opened, stored, *sealing])
        sealed = await self._until(package_id, positions[-1], _sealed_and_planned)
        await self._followed(sealing)
        return sealed

    async def _one_call_claims(self, package_id: str, earlier: Package | None) -> bool:
        """The request's claim when nothing is recorded yet, and always the seal's: a
        retry may read the package half applied (requested, not yet sealed: the read
        model folds the batch event by event) and must not seal it a second time."""
        if earlier is None and not await self._claim(f"requested/{package_id}"):
            return False
        return await self._claim(f"seal/{package_id}")

    async def _claim(self, what: str) -> bool:
        """True for the one call that may record ``what`` now: a conditional write (an
        SQLite ``INSERT OR IGNORE``, a Cassandra lightweight transaction) through the
        replay guard, holding for ``idempotency_lease_seconds``. A call that loses waits
        for the winner's events (``_awaited``); a winner that died before recording
        leaves a claim that expires, after which a retry records. Wall time, not the hub
        clock: the replay stores expire entries against wall time (SQLite's purge, the
        Cassandra TTL), so a lease from a test's ManualClock (months behind) would be
        expired on arrival and every racer would win."""
        until = datetime.now(UTC) + timedelta(
            seconds=self.rt.settings.idempotency_lease_seconds)
        return await self.rt.backend.replay.first_seen(f"claim/{what}", until)

    async def _awaited(self, package_id: str, ready: Callable[[Package], bool]) -> Package:
        """The package once another call's events (it holds the claim) show; 503
        ``processor_lagging`` (retry later) if they do not within the read-your-writes
        wait."""
        try:
            async with asyncio.timeout(self.rt.settings.read_your_writes_seconds):
                pkg = await polled(lambda: self.load(package_id), ready, 0.01, 0.2)
        except TimeoutError:
            raise Unavailable("the same request is being recorded by another call; retry",
                              code="processor_lagging") from None
        return pkg

    async def put_chunk(self, caller: Caller, package_id: str, index: int, data: bytes,
                        declared: str) -> ev.ChunkStored:
        pkg = decide.own_upload(await self.load(package_id), caller, self.rt.backend.clock.now())
        digest = hashlib.sha256(data).hexdigest()
        decide.check_chunk(pkg, index, len(data), declared, digest)
        await self.rt.vault.put_chunk(package_id, index, data)
        stored = decide.chunk_stored(self.ctx(caller), pkg, index, len(data), digest)
        await record(self.rt.backend.events, stored)
        return stored

    async def space(self, caller: Caller, package_id: str) -> tuple[Package, list[int]]:
        pkg = await self.load(package_id)
        if pkg is None or pkg.source_agency_id != caller.app.agency_id:
            raise decide.not_found()
        return pkg, await self.rt.vault.stored(package_id)

    async def seal(self, caller: Caller, package_id: str, deadline: datetime | None,
                   offline_wait_seconds: int | None) -> Package:
        """Sealing twice is harmless: the second call answers with the package as it is,
        and two racing record one seal (the first to claim it)."""
        now = self.rt.backend.clock.now()
        current = await self.load(package_id)
        if current is not None and current.source_agency_id == caller.app.agency_id \
                and current.state is not PackageState.UPLOADING:
            return current
        pkg = decide.own_upload(current, caller, now)
        stored = await self.rt.vault.stored(package_id)
        missing = decide.missing_chunks(pkg, stored)
        digest = None if missing else (await self.rt.vault.digest(package_id, pkg.chunk_count))[0]
        sealing = await self._sealing(self.ctx(caller), caller, pkg, stored, digest,
                                      deadline=deadline,
                                      offline_wait_seconds=offline_wait_seconds)
        if not await self._claim(f"seal/{package_id}"):  # a retry racing: sealed once
            return await self._awaited(package_id, _sealed_and_planned)
        sealed_at = await self._record(*sealing)
        sealed = await self._until(package_id, sealed_at, _sealed_and_planned)
        await self._followed(sealing)
        return sealed

    async def _sealing(self, ctx: Context, caller: Caller, pkg: Package, stored: list[int],
                       digest: str | None, *, deadline: datetime | None,
                       offline_wait_seconds: int | None, content: bytes | None = None
                       ) -> list[ev.Event]:
        """The seal's events, chunked or in one call: the edXML analysis (read, checked)
        of content whose digest is the declared one, then the seal's decision; and, for
        a sealed edXML package, what it causes on other packages (a status, a recall) as
        one ``FollowUpsDecided`` in the same batch: recorded with the seal or not at
        all, never lost to a crash after it (``hub.packages.follow_ups``). ``content``:
        the whole content when the call holds it (one call), not read back from the
        content store."""
        analysed, caused = (None, []) if digest != pkg.sha256 else \
            await documents.analysis(self.rt, ctx, caller, pkg, content)
        outcome = decide.seal(ctx, pkg, stored, digest, deadline=deadline,
                              offline_wait_seconds=offline_wait_seconds, analysis=analysed)
        decision = follow_ups.decided(outcome, caused) \
            if isinstance(outcome, ev.PackageSealed) else None
        return [e for e in (analysed, outcome, decision) if e is not None]

    async def _followed(self, sealing: list[ev.Event]) -> None:
        """Returns once the package read model shows every follow-up the seal decided (the
        package processor appends them as it applies the decision), so a client sealing
        a status package reads the status on the document it answers at once, as it did
        when the call recorded them itself. 503 ``processor_lagging`` after the
        read-your-writes wait: the seal and its follow-ups are recorded all the same."""
        derived = [e for d in sealing if isinstance(d, ev.FollowUpsDecided)
                   for e in follow_ups.effects(d)]
        if not derived:
            return
        try:
            async with asyncio.timeout(self.rt.settings.read_your_writes_seconds):
                for effect in derived:
                    package_id = _package_of(effect)  # each read awaited before the next
                    await polled(lambda: self.load(package_id),  # noqa: B023
                                 lambda p: shows(p, effect), 0.002, 0.05)  # noqa: B023
        except TimeoutError:
            raise Unavailable("sealed, but the package processor is behind with what the seal "
                              "causes on other packages; retry the read",
                              code="processor_lagging") from None

    async def _until(self, package_id: str, after: Position,
                     ready: Callable[[Package], bool]) -> Package:
        """The package once ``ready`` holds for it: a sealed package answers with its
        deliveries planned, so a destination can act on it at once.

        The processor appends the events it derives (``DeliveryPlanned``) *before* it
        applies the event at ``after``, so they all sit below the partition's end now:
        once the processor has applied up to that end, the package shows them — one wait
        on ``applied``, then one read. The polling loop after it is only a safety net."""
        seconds = self.rt.settings.read_your_writes_seconds
        try:
            async with asyncio.timeout(seconds):
                ends = await self.rt.backend.events.end_offsets(after.topic)
                end = ends.get(after.partition, after.offset + 1) - 1
                await self.rt.applied.wait(
                    TRACKER, Position(after.topic, after.partition, max(end, after.offset)),
                    seconds)
                pkg = await polled(lambda: self._reload(package_id), ready, 0.002, 0.05)
        except TimeoutError:
            raise Unavailable("recorded, but the package processor is behind; retry the read",
                              code="processor_lagging") from None
        return pkg

    async def begin_fetch(self, caller: Caller, package_id: str) -> Package:
        pkg = decide.own_delivery(await self.load(package_id), caller)
        started = decide.fetched(self.ctx(caller), pkg, caller)
        if started is not None:
            await self._record(started)
        return pkg

    def content(self, pkg: Package, first_byte: int, last_byte: int) -> AsyncIterator[bytes]:
        return _slice(self.rt, pkg, first_byte, last_byte)

    async def open_content(self, pkg: Package, first_byte: int, last_byte: int
                           ) -> AsyncIterator[bytes]:
        """The content's bytes, with everything that can fail done *before* the first
        byte: a fetch lease taken (the shredder leaves the chunks alone while it stands),
        the data key read from the key store, the first chunk read and decrypted. So a
        shredded package or an engine down is a clean 410 or 503, and a response that
        started is never cut short by a shred (``infra/leases.py``)."""
        stack = AsyncExitStack()
        try:
            leases = self.rt.vault.leases
            lease = None if leases is None else await stack.enter_async_context(
                leases.hold(pkg.package_id))
            await self.rt.vault.check_key(pkg.package_id)
            pieces = self.content(pkg, first_byte, last_byte)
            stack.push_async_callback(pieces.aclose)  # type: ignore[attr-defined]
            head = await anext(pieces)
        except BaseException:
            await stack.aclose()
            raise
        return _streamed(head, pieces, lease, stack)

    async def acknowledge(self, caller: Caller, package_id: str, digest: str) -> Package:
        """Idempotent: an ack already recorded with this digest answers with the package
        and records nothing; two acks racing record one ``DeliveryAcknowledged``."""
        pkg = decide.own_delivery(await self.load(package_id), caller)
        ack = decide.acknowledge(self.ctx(caller), pkg, caller, digest)
        if ack is None:
            return pkg
        mine = caller.app.agency_id
        if not await self._claim(f"ack/{package_id}/{mine}"):
            pkg = await self._awaited(package_id, lambda p: p.deliveries[mine].state.closed)
            if decide.acknowledge(self.ctx(caller), pkg, caller, digest) is not None:
                raise Unavailable("another acknowledgement is being recorded; retry",
                                  code="processor_lagging")
            return pkg
        # Claimed; but an earlier claim may have expired with its ack recorded and not yet
        # applied (answered 503 processor_lagging): decide again on a read model that has
        # applied everything the log held when the claim was won.
        await self._caught_up()
        pkg = decide.own_delivery(await self.load(package_id), caller)
        ack = decide.acknowledge(self.ctx(caller), pkg, caller, digest)
        if ack is None:
            return pkg
        await self._record(ack)
        return await self._reload(package_id)

    async def _caught_up(self) -> None:
        """Returns once the package processor has applied every event the packages topic
        holds now (503 ``processor_lagging`` if it does not within the read-your-writes
        wait). A package's events share one partition, but which one is the log's
        business: waiting for each costs one round trip and, caught up, nothing."""
        ends = await self.rt.backend.events.end_offsets(PACKAGES)
        seconds = self.rt.settings.read_your_writes_seconds
        try:
            await asyncio.gather(*(
                self.rt.applied.wait(TRACKER, Position(PACKAGES, p, end - 1), seconds)
                for p, end in ends.items() if end > 0))
        except TimeoutError:
            raise Unavailable("the package processor is behind; retry",
                              code="processor_lagging") from None

    async def report(self, caller: Caller, package_id: str, code: str,
                     note: str | None, destination: str | None = None) -> Package:
        pkg = await self.load(package_id)
        await self._record(decide.report_status(self.ctx(caller), pkg, caller, code,
                                                note=note, destination=destination))
        return await self._reload(package_id)

    # --- the source's actions on one delivery (hub.deadlines.actions) ------------------

    async def extend(self, caller: Caller, package_id: str, code: str,
                     deadline: datetime) -> Package:
        pkg = await self.load(package_id)
        await self._record(actions.extend(self.ctx(caller), pkg, caller, code, deadline))
        return await self._reload(package_id)

    async def redirect(self, caller: Caller, package_id: str, from_code: str,
                       to_code: str) -> Package:
        pkg = await self.load(package_id)
        await self._record(actions.redirect(self.ctx(caller), self.rt.view.registry, pkg,
                                            caller, from_code=from_code, to_code=to_code))
        return await self._reload(package_id)

    async def recall(self, caller: Caller, package_id: str, code: str | None,
                     reason: str | None) -> Package:
        pkg = await self.load(package_id)
        await self._record(*actions.recall(self.ctx(caller), pkg, caller, code, reason))
        return await self._reload(package_id)

    async def _reload(self, package_id: str) -> Package:
        pkg = await self.load(package_id)
        if pkg is None:
            raise decide.not_found()
        return pkg


def _package_of(effect: ev.Event) -> str:
    return str(getattr(effect, "package_id"))  # noqa: B009 (any follow-up type)


def _folded(pkg: Package | None, events: list[ev.Event]) -> Package | None:
    """The package as the read model will show it once ``events`` are applied."""
    for event in events:
        pkg = evolve(pkg, event)
    return pkg


def _sealed_and_planned(pkg: Package) -> bool:
    """A seal's answer: rejected, or sealed with a delivery planned per recipient."""
    return pkg.rejection is not None or (pkg.state is not PackageState.UPLOADING
                                         and len(pkg.deliveries) == len(pkg.recipients))


async def _streamed(head: bytes, rest: AsyncIterator[bytes], lease: Lease | None,
                    stack: AsyncExitStack) -> AsyncIterator[bytes]:
    try:
        yield head
        async for piece in rest:
            if lease is not None:
                await lease.renew()
            yield piece
    finally:
        await stack.aclose()


async def _slice(rt: Runtime, pkg: Package, first: int, last: int) -> AsyncIterator[bytes]:
    """Plaintext bytes first..last (inclusive), decrypted one chunk at a time."""
    if not 0 <= first <= last < pkg.size:
        raise RangeNotSatisfiable("range outside the content", size=pkg.size)
    size = pkg.chunk_size
    index = first // size
    async for chunk in rt.vault.chunks(pkg.package_id, index, last // size):
        start = first - index * size if index == first // size else 0
        end = last - index * size + 1 if index == last // size else len(chunk)
        yield chunk[start:end]
        index += 1


async def polled(read: Callable[[], Awaitable[Package | None]], ready: Callable[[Package], bool],
                 first: float, cap: float) -> Package:
    """``read`` again, waiting twice as long each time up to ``cap``, until it gives a
    package that is ``ready``; the caller bounds the whole wait."""
    delay = first
    while (pkg := await read()) is None or not ready(pkg):
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)
    return pkg
