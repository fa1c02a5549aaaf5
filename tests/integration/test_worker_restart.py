"""A Faust worker killed in the middle of deliveries: on restart nothing is lost and
nothing is delivered, counted or notified twice."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucClient
from hub import events as ev
from hub.topics import PACKAGES
from infra.kafka.event_log import KafkaEventLog
from tests.conftest import Engines
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import running_hub

pytestmark = pytest.mark.engines
PACKAGES_SENT = 12


async def collect(source: TrucClient, into: list[dict[str, Any]]) -> None:
    async for message in source.watch():
        if message["type"] == "package.available":
            into.append(message)


async def test_killing_the_worker_mid_flow_loses_and_doubles_nothing(
    engines: Engines, tmp_path: Path
) -> None:
    with running_hub("distributed", tmp_path, engines) as hub:
        source = agency_with_app(hub)
        destinations = [agency_with_app(hub) for _ in range(3)]
        doc = tmp_path / "doc.bin"
        doc.write_bytes(os.urandom(50_000))
        seen: list[list[dict[str, Any]]] = [[], [], []]
        async with client(hub, source) as src, client(hub, destinations[0]) as d0, \
                client(hub, destinations[1]) as d1, client(hub, destinations[2]) as d2:
            watchers = [asyncio.create_task(collect(d, s))
                        for d, s in zip((d0, d1, d2), seen, strict=True)]
            await asyncio.sleep(1)
            codes = [d["code"] for d in destinations]
            sent = [(await src.send(codes, f"Văn bản {i}", doc))["package_id"]
                    for i in range(PACKAGES_SENT // 2)]
            worker = hub.procs[0]
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            hub.procs.remove(worker)
            requests = [asyncio.create_task(src.send(codes, f"Văn bản {i}", doc))
                        for i in range(PACKAGES_SENT // 2, PACKAGES_SENT)]
            await asyncio.sleep(2)
            hub.start_worker()
            sent += [(await r)["package_id"] for r in requests]
            await all_announced(seen)
            await asyncio.sleep(2)
            for task in watchers:
                task.cancel()
            for dest in (d0, d1, d2):
                assert sorted(i["package_id"] for i in await dest.inbox()) == sorted(sent)
            for package_id in sent:
                view = await src.package(package_id)
                assert sorted(d["agency_code"] for d in view["deliveries"]) == sorted(codes)
        for messages in seen:
            ids = [m["package_id"] for m in messages]
            assert sorted(ids) == sorted(sent), "each package announced exactly once"
        planned = await planned_events(hub.env, engines)
        assert len({e.event_id for e in planned}) == 3 * PACKAGES_SENT


async def all_announced(seen: list[list[dict[str, Any]]]) -> None:
    async with asyncio.timeout(120):
        while any(len({m["package_id"] for m in s}) < PACKAGES_SENT for s in seen):
            await asyncio.sleep(0.2)


async def planned_events(env: dict[str, str], engines: Engines) -> list[ev.DeliveryPlanned]:
    log = await KafkaEventLog(engines.kafka, env["TRUC_TOPIC_PREFIX"]).start()
    try:
        return [r.event async for r in log.read(PACKAGES)
                if isinstance(r.event, ev.DeliveryPlanned)]
    finally:
        await log.close()
