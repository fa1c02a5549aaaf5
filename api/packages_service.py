"""The package use cases for the API: decide, record, and wait for the package's read
model when the next call depends on it (read your writes)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from api.runtime import Runtime
from hub import events as ev
from hub.auth.sessions import Caller
from hub.deadlines import actions
from hub.deadlines.rules import waiting_for_receiver
from hub.errors import RangeNotSatisfiable, Unavailable
from hub.packages import decisions as decide
from hub.packages.decisions import Limits, SendRequest
from hub.packages.model import Package, PackageState
from hub.packages.processor import TRACKER, package_ref
from hub.ports import Position
from hub.registry.decisions import Context
from hub.topics import record


class Packages:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        s = runtime.settings
        self.limits = Limits(s.max_package_bytes, s.chunk_bytes,
                             timedelta(minutes=s.space_ttl_minutes))

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
        earlier = None
        if req.idempotency_key:
            earlier = await self.load(decide.new_package_id(caller.app.app_id,
                                                            req.idempotency_key))
            if earlier is not None and earlier.source_app_id == caller.app.app_id:
                decide.check_same_request(earlier, req)
                if earlier.space_expires_at is not None:
                    return earlier
        requested, space = decide.request_package(self.rt.view.registry, caller,
                                                  self.ctx(caller), req, self.limits)
        await self.rt.vault.create_key(requested.package_id)
        # A retry that found the package without its space (the first call was cut between
        # its two appends, or its grant is not applied yet) grants again: harmless, since
        # the fold keeps the first grant, and the retry gets a usable space.
        await self._record(*((space,) if earlier is not None else (requested, space)))
        found = await self.load(requested.package_id)
        assert found is not None
        return found

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
        """Sealing twice is harmless: the second call answers with the package as it is."""
        now = self.rt.backend.clock.now()
        current = await self.load(package_id)
        if current is not None and current.source_agency_id == caller.app.agency_id \
                and current.state is not PackageState.UPLOADING:
            return current
        pkg = decide.own_upload(current, caller, now)
        stored = await self.rt.vault.stored(package_id)
        missing = decide.missing_chunks(pkg, stored)
        digest = None if missing else (await self.rt.vault.digest(package_id, pkg.chunk_count))[0]
        outcome = decide.seal(self.ctx(caller), pkg, stored, digest, deadline=deadline,
                              offline_wait_seconds=offline_wait_seconds)
        sealed_at = await self._record(outcome)
        return await self._until(package_id, sealed_at, lambda p: p.rejection is not None
                                 or len(p.deliveries) == len(p.recipients))

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
                delay = 0.002
                while not ready(pkg := await self._reload(package_id)):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.05)
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

    async def acknowledge(self, caller: Caller, package_id: str, digest: str) -> Package:
        pkg = decide.own_delivery(await self.load(package_id), caller)
        await self._record(decide.acknowledge(self.ctx(caller), pkg, caller, digest))
        return await self._reload(package_id)

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
