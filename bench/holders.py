"""A process that holds many notification WebSockets open: ``python -m bench.holders``.

Reads the apps' keys (JSON list) from a file, opens ``--count`` connections with
``TrucClient.watch()`` spread over them (many per app), prints one JSON line when they
are all connected, keeps them open until its stdin closes, then prints how many are still
open. Heartbeats flow all along: the hub's ``ping`` messages every 15 s and WebSocket
pings from both ends (answered by the websockets library).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

from api.client import TrucClient


def raise_nofile() -> tuple[int, int]:
    """Raises the soft open-files limit to the hard one; returns (soft, hard)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard, hard


class Held:
    def __init__(self) -> None:
        self.connected = 0
        self.failed: list[str] = []
        self.ended = 0
        self.notices = 0


async def hold(client: TrucClient, held: Held, ready: asyncio.Event) -> None:
    try:
        async for message in client.watch():
            if message.get("type") == "hello":
                held.connected += 1
                ready.set()
            else:
                held.notices += 1
    except Exception as exc:
        if len(held.failed) < 5:
            held.failed.append(f"{type(exc).__name__}: {exc}")
    finally:
        held.ended += 1
        ready.set()


async def main(url: str, keys: list[dict[str, str]], count: int, parallel: int) -> None:
    held = Held()
    began = time.perf_counter()
    gate = asyncio.Semaphore(parallel)
    tasks: list[asyncio.Task[None]] = []
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(
            TrucClient(url, k["access_key"], k["secret_key"])) for k in keys]

        async def open_one(i: int) -> None:
            async with gate:
                ready = asyncio.Event()
                tasks.append(asyncio.create_task(hold(clients[i % len(clients)], held, ready)))
                await ready.wait()

        await asyncio.gather(*(open_one(i) for i in range(count)))
        print(json.dumps({"connected": held.connected, "failed": len(held.failed),
                          "seconds": round(time.perf_counter() - began, 2),
                          "errors": held.failed}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        alive = sum(not t.done() for t in tasks)
        print(json.dumps({"alive": alive, "ended": held.ended, "notices": held.notices,
                          "errors": held.failed}), flush=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--keys", type=Path, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=64)
    args = parser.parse_args()
    raise_nofile()
    asyncio.run(main(args.url, json.loads(args.keys.read_text()), args.count, args.parallel))
