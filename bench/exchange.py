"""Sources and destinations driven by the project's async client.

A source sends packages (request → upload → seal, ``TrucClient.send``) and notes when
each seal returned. A destination watches its WebSocket (``TrucClient.watch``), notes
when each ``package.available`` arrives and, if asked, fetches and acknowledges it with
a few workers. All times are ``time.perf_counter()`` in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from api.client import TrucClient

Delivery = tuple[str, str]  # (package id, destination agency code)


@dataclass
class Timings:
    sealed: dict[str, float] = field(default_factory=dict)
    notified: dict[Delivery, float] = field(default_factory=dict)
    acked: dict[Delivery, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notice(self, key: Delivery) -> None:
        self.notified[key] = time.perf_counter()
        self.changed.set()

    def told(self) -> int:
        """Notices of packages sealed in this run (not of earlier, still waiting ones)."""
        return sum(pid in self.sealed for pid, _ in self.notified)

    async def reach(self, notices: int, within: float) -> None:
        """Waits until ``notices`` notices arrived, or ``within`` seconds passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.told() < notices:
                    self.changed.clear()
                    await self.changed.wait()

    def since_seal(self, marks: dict[Delivery, float]) -> list[float]:
        """Seconds from each seal's return to the mark (negative: the notice came first)."""
        return [at - self.sealed[pid] for (pid, _), at in marks.items() if pid in self.sealed]

    def error(self, what: str, exc: BaseException) -> None:
        if len(self.errors) < 50:
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")


class Destination:
    def __init__(self, client: TrucClient, code: str, timings: Timings, tmp: Path, *,
                 fetch: bool, workers: int) -> None:
        self.client = client
        self.code = code
        self.timings = timings
        self.tmp = tmp
        self.fetch = fetch
        self.workers = workers
        self.ready = asyncio.Event()
        self._todo: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.expected = 0
        self.done = asyncio.Event()

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._watch()))
        if self.fetch:
            self._tasks += [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _watch(self) -> None:
        while True:  # a dropped WebSocket is reconnected; waiting deliveries come again
            try:
                async for message in self.client.watch():
                    self._on(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.timings.error(f"watch {self.code}", exc)
                await asyncio.sleep(0.5)

    def _on(self, message: dict[str, object]) -> None:
        if message.get("type") == "hello":
            self.ready.set()
        if message.get("type") != "package.available":
            return
        key = (str(message["package_id"]), self.code)
        if key in self.timings.notified:
            return
        self.timings.notice(key)
        if self.fetch:
            self._todo.put_nowait(key[0])
        else:
            self._count()

    def _count(self) -> None:
        self.expected -= 1
        if self.expected <= 0:
            self.done.set()

    async def _work(self) -> None:
        while True:
            package_id = await self._todo.get()
            target = self.tmp / f"{package_id}-{self.code}.bin"
            try:
                digest = await self.client.fetch(package_id, target)
                await self.client.ack(package_id, digest)
                self.timings.acked[(package_id, self.code)] = time.perf_counter()
            except Exception as exc:
                self.timings.error(f"fetch/ack {self.code}", exc)
            finally:
                target.unlink(missing_ok=True)
                self._count()


class Pacer:
    """Hands out send slots at ``rate`` per second (unlimited when None)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._start = time.perf_counter()
        self._issued = 0

    async def slot(self) -> None:
        if self.rate is None:
            return
        due = self._start + self._issued / self.rate
        self._issued += 1
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def send_all(client: TrucClient, recipients: Sequence[Sequence[str]], *, payload: Path,
                   timings: Timings, pacer: Pacer, stop_at: float | None = None) -> int:
    """Sends one package per recipient list, one after the other; returns how many."""
    sent = 0
    for group in recipients:
        await pacer.slot()
        if stop_at is not None and time.perf_counter() >= stop_at:
            break
        try:
            sealed = await client.send(list(group), "Bench", payload)
        except Exception as exc:
            timings.error("send", exc)
            continue
        timings.sealed[sealed["package_id"]] = time.perf_counter()
        sent += 1
    return sent


@contextlib.asynccontextmanager
async def watching(destinations: Sequence[Destination], within: float = 60
                   ) -> AsyncIterator[None]:
    """Starts the destinations and waits for each one's hello."""
    for d in destinations:
        d.start()
    try:
        async with asyncio.timeout(within):
            await asyncio.gather(*(d.ready.wait() for d in destinations))
        yield
    finally:
        for d in destinations:
            await d.stop()
