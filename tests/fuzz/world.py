"""The state a fuzz run starts from: agencies, apps, an operator and real packages, so that
generated requests reach deep routes (a real package id, a real agency code) and not only
the 404 of an id nobody has."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.client import TrucClient
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub


@dataclass
class World:
    """Who the fuzzer speaks as, and the ids it feeds into path parameters."""

    url: str
    keys: dict[str, dict[str, Any] | None]  # identity name -> signing key (None: unsigned)
    path_values: dict[str, list[str]] = field(default_factory=dict)  # parameter -> real ids
    source: dict[str, Any] = field(default_factory=dict)
    destination: dict[str, Any] = field(default_factory=dict)
    ready_ids: list[str] = field(default_factory=list)  # uploaded, unsealed: for the corpus


def build_world(hub: RunningHub) -> World:
    """Two agencies (source and destination apps), a victim app the operator key may revoke
    or re-key without cutting the fuzzer's own identities, and packages in three states:
    an open space, a sealed one and one the destination has fetched."""
    source = agency_with_app(hub)
    destination = agency_with_app(hub)
    victim = agency_with_app(hub)
    hub.ops("GET", "/v1/ops/agencies")
    assert hub.admin_key is not None
    packages, ready = asyncio.run(_packages(hub, source, destination))
    codes = [source["code"], destination["code"], victim["code"]]
    return World(
        url=hub.url,
        keys={"app": source, "destination": destination, "operator": hub.admin_key,
              "none": None},
        path_values={"package_id": packages, "code": codes,
                     "app_id": [victim["app_id"]], "principal_id": [victim["app_id"]]},
        source=source, destination=destination, ready_ids=ready)


async def _packages(hub: RunningHub, source: dict[str, Any],
                    destination: dict[str, Any]) -> tuple[list[str], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload.bin"
        payload.write_bytes(os.urandom(2048))
        async with client(hub, source) as app:
            sealed = await app.send([destination["code"]], "Công văn", payload)
            fetched = await app.send([destination["code"]], "Quyết định", payload)
            space = await _space(app, destination["code"], payload)
            ready = []
            for _ in range(3):  # the corpus seals each with a value that once broke the log
                uploaded = await _space(app, destination["code"], payload)
                await app.upload(uploaded["package_id"], payload)
                ready.append(uploaded["package_id"])
        async with client(hub, destination) as dest:
            await _wait_in_inbox(dest, fetched["package_id"])
            await dest.fetch(fetched["package_id"], Path(tmp) / "got.bin")
    return [sealed["package_id"], fetched["package_id"], space["package_id"]], ready


async def _space(app: TrucClient, destination: str, payload: Path) -> dict[str, Any]:
    space: dict[str, Any] = await app.call("POST", "/v1/packages", json_body={
        "recipients": [destination], "title": "Tờ trình", "priority": "normal",
        "data_type": "binary", "size": payload.stat().st_size,
        "sha256": hashlib.sha256(payload.read_bytes()).hexdigest()})
    return space


async def _wait_in_inbox(app: TrucClient, package_id: str) -> None:
    async with asyncio.timeout(60):
        while package_id not in {p["package_id"] for p in await app.inbox()}:
            await asyncio.sleep(0.2)


async def exchange_still_works(world: World) -> str:
    """A normal send → fetch → ack between the world's apps; returns the ack's state."""
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "after.bin"
        payload.write_bytes(os.urandom(4096))
        async with TrucClient(world.url, world.source["access_key"],
                              world.source["secret_key"]) as app:
            sent = await app.send([world.destination["code"]], "Sau fuzz", payload)
        async with TrucClient(world.url, world.destination["access_key"],
                              world.destination["secret_key"]) as dest:
            await _wait_in_inbox(dest, sent["package_id"])
            digest = await dest.fetch(sent["package_id"], Path(tmp) / "got.bin")
            acked = await dest.ack(sent["package_id"], digest)
    return str(acked.get("state", acked))


def dead_letters(health: Any) -> int:
    """Every count named ``dead_letter…`` in a /healthz report (0 if none is reported)."""
    if isinstance(health, dict):
        return sum(v if "dead_letter" in k and isinstance(v, int) else dead_letters(v)
                   for k, v in health.items())
    if isinstance(health, list):
        return sum(dead_letters(v) for v in health)
    return 0


def health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/healthz", timeout=30)
