"""``python -m bench.one_call [embedded|distributed] [N]``: the chunked send and the one-call
send (``POST /v1/packages/send``) of a 10 KiB package, alternating on one hub, one source,
one destination — a same-run A/B that a loaded machine disturbs equally on both sides.

Per path: the send's median latency and the API process's mean CPU per send (read from
``/proc`` around each send); each package is then fetched and acknowledged, untimed.
Distributed, it uses engines already running (``TRUC_KAFKA_PORT``, ``TRUC_CASSANDRA_PORT``;
the hub gets its own topic prefix and keyspace) and starts none.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from api.client import TrucClient
from bench.config import QUICK, Engines
from bench.hubproc import Key, Provisioner, client
from bench.report import Recorder
from bench.rss import cpu_seconds
from bench.suite import Suite

SIZE = 10 * 1024
WARM_UP = 4


async def chunked(src: TrucClient, dest: Key, data: bytes, digest: str) -> str:
    space = await src.call("POST", "/v1/packages", json_body={
        "recipients": [dest["code"]], "title": "Bench", "data_type": "binary",
        "size": len(data), "sha256": digest}, headers={"idempotency-key": os.urandom(8).hex()})
    pid: str = space["package_id"]
    await src.request("PUT", f"/v1/packages/{pid}/chunks/0", content=data,
                      headers={"x-chunk-sha256": digest,
                               "content-type": "application/octet-stream"})
    await src.call("POST", f"/v1/packages/{pid}/seal", json_body={})
    return pid


async def one_call(src: TrucClient, dest: Key, data: bytes, digest: str) -> str:
    sent = await src.call("POST", "/v1/packages/send", json_body={
        "recipients": [dest["code"]], "title": "Bench", "data_type": "binary",
        "sha256": digest, "content_base64": base64.b64encode(data).decode()},
        headers={"idempotency-key": os.urandom(8).hex()})
    pid: str = sent["package_id"]
    return pid


Send = Callable[[TrucClient, Key, bytes, str], Awaitable[str]]
PATHS: dict[str, Send] = {"chunked": chunked, "one_call": one_call}


async def compare(backend: str, packages: int) -> dict[str, object]:
    engines = Engines.from_env() if backend == "distributed" else None
    rec = Recorder(QUICK.mode, Path(tempfile.gettempdir()) / "truc-one-call.jsonl")
    ms: dict[str, list[float]] = {name: [] for name in PATHS}
    cpu: dict[str, list[float]] = {name: [] for name in PATHS}
    with tempfile.TemporaryDirectory(prefix="truc-one-call-") as tmp:
        suite = Suite(QUICK, rec, Path(tmp), engines)
        with suite.hub(backend, "one-call") as hub:
            source, dest = await Provisioner(hub).apps(2)
            data = os.urandom(SIZE)
            digest = hashlib.sha256(data).hexdigest()
            target = Path(tmp) / "got.bin"
            async with client(hub, source) as src, client(hub, dest) as dst:
                for i in range(packages + WARM_UP):
                    for name, send in PATHS.items():
                        cpu0, began = cpu_seconds(hub.pid), time.perf_counter()
                        pid = await send(src, dest, data, digest)
                        ended, cpu1 = time.perf_counter(), cpu_seconds(hub.pid)
                        await dst.ack(pid, await dst.fetch(pid, target))
                        target.unlink()
                        if i >= WARM_UP:
                            ms[name].append((ended - began) * 1000)
                            cpu[name].append((cpu1 - cpu0) * 1000)
    return {"backend": backend, "packages_each": packages, "bytes": SIZE, **{
        name: {"send_ms_median": round(statistics.median(ms[name]), 1),
               "api_cpu_ms_per_send_mean": round(statistics.mean(cpu[name]), 2)}
        for name in PATHS}}


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "embedded"
    packages = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    print(json.dumps(asyncio.run(compare(backend, packages))))


if __name__ == "__main__":
    main()
