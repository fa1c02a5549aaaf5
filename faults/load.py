"""The clients: a source sending small packages A → B through both API nodes, and a
destination watching, polling its inbox, fetching and acknowledging. Both act as a careful
agency application would: an attempt that fails is tried again (the same Idempotency-Key
for a send, the same digest for an ack), through the other node, with a short backoff.
Every attempt is one operation in the history."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from api.client import TrucClient, TrucError
from faults.history import History
from faults.hub import DESTINATION
from hub.packages.decisions import new_package_id

Node = tuple[str, TrucClient]


@dataclass
class Package:
    index: int
    key: str
    path: Path
    sha256: str
    pid: str
    """The package id the hub derives from the app and the Idempotency-Key."""
    first_invoked: float | None = None
    sealed_at: float | None = None
    package_id: str | None = None


def make_packages(tmp: Path, run: str, count: int, size: int, app_id: str
                  ) -> list[Package]:
    """Distinct small payloads, one file each, with idempotency keys unique to the run."""
    made = []
    tmp.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = (f"{run}/{i}/".encode() * (size // 8 + 1))[:size]
        path = tmp / f"p{i}.bin"
        path.write_bytes(body)
        key = f"{run}-{i}"
        made.append(Package(i, key, path, hashlib.sha256(body).hexdigest(),
                            new_package_id(app_id, key)))
    return made


class Source:
    def __init__(self, nodes: list[Node], history: History, app_id: str, rate: float,
                 senders: int) -> None:
        self.nodes, self.history, self.rate, self.senders = nodes, history, rate, senders
        self.app_id = app_id
        self.give_up_at = float("inf")

    async def run(self, packages: list[Package]) -> None:
        queue: asyncio.Queue[Package] = asyncio.Queue()
        began = time.monotonic()
        for p in packages:
            queue.put_nowait(p)

        async def sender() -> None:
            while not queue.empty():
                p = queue.get_nowait()
                due = began + p.index / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self.send(p)

        await asyncio.gather(*(sender() for _ in range(self.senders)))

    async def send(self, p: Package) -> None:
        p.first_invoked = time.monotonic()
        attempt = 0
        while p.sealed_at is None:
            name, client = self.nodes[(p.index + attempt) % len(self.nodes)]
            op = self.history.invoke("send", p.key, name)
            try:
                sealed = await client.send([DESTINATION], f"Faults {p.index}", p.path,
                                           idempotency_key=p.key)
                self.history.ok(op, sealed["package_id"])
                p.package_id, p.sealed_at = sealed["package_id"], time.monotonic()
                return
            except Exception as exc:
                self.history.failed(op, exc)
                if isinstance(exc, TrucError) and exc.code == "space_closed":
                    await self._sealed_before(client, p)
            attempt += 1
            if time.monotonic() >= self.give_up_at:  # tried at least once: given up
                return
            await asyncio.sleep(min(0.5 * attempt, 3.0))

    async def _sealed_before(self, client: TrucClient, p: Package) -> None:
        """``space_closed``: an earlier attempt whose answer was lost did seal it."""
        with contextlib.suppress(Exception):
            view = await client.package(p.pid)
            if view["state"] in ("sealed", "completed"):
                p.package_id, p.sealed_at = p.pid, time.monotonic()


@dataclass
class Destination:
    nodes: list[Node]
    history: History
    receivers: int
    tmp: Path
    acked: dict[str, float] = field(default_factory=dict)
    """Package id → when the destination knew it acknowledged (ack ok, or an ack refused
    as already acknowledged after an answer was lost)."""
    gone: set[str] = field(default_factory=set)
    """Packages the destination could no longer fetch (410) and never acknowledged."""
    give_up_at: float = float("inf")
    _seen: set[str] = field(default_factory=set)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _slots: asyncio.Semaphore | None = None

    def start(self) -> None:
        self._slots = asyncio.Semaphore(self.receivers)
        self._tasks += [asyncio.create_task(self._watch()), asyncio.create_task(self._poll())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def offer(self, package_id: str) -> None:
        if package_id not in self._seen:
            self._seen.add(package_id)
            self._tasks.append(asyncio.create_task(self._handle(package_id)))

    async def _watch(self) -> None:
        turn = 0
        while True:  # a dropped WebSocket reconnects, to the other node
            name, client = self.nodes[turn % len(self.nodes)]
            op = self.history.invoke("watch", "", name)
            try:
                async for message in client.watch():
                    if message.get("type") == "package.available":
                        self.offer(str(message["package_id"]))
                self.history.ok(op)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.history.failed(op, exc)
            turn += 1
            await asyncio.sleep(0.5)

    async def _poll(self) -> None:
        """The inbox, every 2 s: what a lost notification would otherwise leave waiting."""
        turn = 0
        while True:
            await asyncio.sleep(2)
            name, client = self.nodes[turn % len(self.nodes)]
            turn += 1
            op = self.history.invoke("inbox", "", name)
            try:
                rows = await client.inbox()
            except Exception as exc:
                self.history.failed(op, exc)
                continue
            self.history.ok(op, str(len(rows)))
            for row in rows:
                self.offer(str(row["package_id"]))

    async def _handle(self, package_id: str) -> None:
        digest: str | None = None
        attempt = 0
        while time.monotonic() < self.give_up_at:
            name, client = self.nodes[attempt % len(self.nodes)]
            attempt += 1
            assert self._slots is not None
            async with self._slots:
                fetching = digest is None
                if digest is None:
                    digest, stop = await self._fetch(name, client, package_id)
                else:
                    digest, stop = await self._ack(name, client, package_id, digest)
            if stop:
                return
            if not (fetching and digest is not None):  # a fetch that worked: ack at once
                await asyncio.sleep(min(0.5 * attempt, 3.0))

    async def _fetch(self, name: str, client: TrucClient, package_id: str
                     ) -> tuple[str | None, bool]:
        target = self.tmp / f"in-{package_id}.bin"
        op = self.history.invoke("fetch", package_id, name)
        try:
            digest = await client.fetch(package_id, target)
        except Exception as exc:
            self.history.failed(op, exc)
            target.unlink(missing_ok=True)  # a partial body is not resumed: start over
            if isinstance(exc, TrucError) and exc.status == 410:
                self.gone.add(package_id)
                return None, True
            return None, False
        target.unlink(missing_ok=True)
        self.history.ok(op, digest)
        return digest, False

    async def _ack(self, name: str, client: TrucClient, package_id: str, digest: str
                   ) -> tuple[str | None, bool]:
        op = self.history.invoke("ack", package_id, name)
        try:
            await client.ack(package_id, digest)
        except TrucError as exc:
            self.history.failed(op, exc)
            # a repeated ack with this digest answers 200; already_acknowledged would mean
            # another digest was recorded: a real fault, left as the failure it is
            if exc.status == 410:
                self.gone.add(package_id)
                return digest, True
            return (None if exc.code == "digest_mismatch" else digest), False
        except Exception as exc:
            self.history.failed(op, exc)
            return digest, False
        self.history.ok(op)
        self.acked.setdefault(package_id, time.monotonic())
        return digest, True
