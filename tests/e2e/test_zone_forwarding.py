"""Forwarding between two zones' hubs on loopback (issue 15, item 4): each hub is an app
of the other; packages go both ways, the source sees the peer's fetch, acknowledgement
and statuses as if local, its content is shredded once the peer's destination
acknowledged, a retry never doubles a package, a loop is refused, and one hub killed
and restarted mid-run loses nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucClient
from tests.e2e.hubs import RunningHub, running_hub

BACKENDS = ["embedded", pytest.param("distributed", marks=pytest.mark.engines)]
A_SOURCE, A_HUB = "000.00.11.H53", "000.00.00.H53"
B_DEST, B_HUB = "000.00.12.H29", "000.00.00.H29"
LOOPING = "000.00.77.H29"
"""Routed by A to B (province H29) and by B back to A (an explicit code): a loop."""


@pytest.fixture(scope="module", params=BACKENDS)
def hubs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Two hubs on the same backend (distributed: each its own topics and keyspace)."""
    backend = request.param
    engines = request.getfixturevalue("engines") if backend == "distributed" else None
    fast = {"zone_retry_seconds": "0.2", "zone_poll_seconds": "0.3",
            "zone_poll_max_seconds": "2", "webhook_resume_seconds": "1"}
    with running_hub(backend, tmp_path_factory.mktemp(f"hub-a-{backend}"), engines,
                     hub_name="hub-a", chunk_bytes="300000", **fast) as a, \
            running_hub(backend, tmp_path_factory.mktemp(f"hub-b-{backend}"), engines,
                        hub_name="hub-b", **fast) as b:
        yield a, b


def agency_app(hub: RunningHub, code: str, name: str) -> dict[str, Any]:
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": name})
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": name})
    approved = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})
    return {"code": code, **approved["key"]}


def client(hub: RunningHub, key: dict[str, Any]) -> TrucClient:
    return TrucClient(hub.url, key["access_key"], key["secret_key"])


def zone(hub: RunningHub, name: str, peer: RunningHub, key: dict[str, Any],
         *patterns: str) -> None:
    hub.admin("zone", "set", name, "--url", peer.url, "--access-key", key["access_key"],
              "--secret-key", key["secret_key"], *patterns)


@pytest.fixture(scope="module")
def world(hubs: tuple[RunningHub, RunningHub]) -> dict[str, Any]:
    a, b = hubs
    source = agency_app(a, A_SOURCE, "Sở Tư pháp Bà Rịa - Vũng Tàu")
    dest = agency_app(b, B_DEST, "Sở Tư pháp TP.HCM")
    a_on_b = agency_app(b, A_HUB, "Trục Bà Rịa - Vũng Tàu")  # hub A, an app of hub B
    b_on_a = agency_app(a, B_HUB, "Trục TP.HCM")  # hub B, an app of hub A
    zone(a, "hcm", b, a_on_b, "--province", "H29")
    zone(b, "brvt", a, b_on_a, "--province", "H53", "--code", LOOPING)
    return {"source": source, "dest": dest}


async def until(check: Any, what: str, seconds: float = 90) -> Any:
    """Polls ``check()`` until it gives something true (bounded)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.3)


def delivery(view: dict[str, Any], code: str) -> dict[str, Any]:
    [found] = [d for d in view["deliveries"] if d["agency_code"] == code]
    return found


@pytest.mark.timeout(600)
async def test_a_package_goes_to_the_other_zone_and_its_outcome_comes_back(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    a, b = hubs
    content = os.urandom(2_500_000)  # chunks of 300 000 bytes on A, 1 MiB on B
    file = tmp_path / "cong-van.bin"
    file.write_bytes(content)
    async with client(a, world["source"]) as source:
        sent = await source.send([B_DEST], "Công văn liên tỉnh", file, idempotency_key="k1")
        assert [d["agency_code"] for d in sent["deliveries"]] == [B_DEST]
        package_id = sent["package_id"]
    async with client(b, world["dest"]) as dest:
        async def arrived() -> list[dict[str, Any]]:
            return [i for i in await dest.inbox() if i["title"] == "Công văn liên tỉnh"]
        [item] = await until(arrived, "the forwarded package in B's inbox")
        assert item["source"] == A_HUB  # B sees hub A as one of its apps
        got = tmp_path / "got.bin"
        await dest.fetch(item["package_id"], got)
        assert got.read_bytes() == content
    async with client(a, world["source"]) as source:
        async def fetched() -> bool:
            view = await source.package(package_id)
            return delivery(view, B_DEST)["state"] == "fetched"
        await until(fetched, "the peer's fetch seen by the source")
    async with client(b, world["dest"]) as dest:
        await dest.ack(item["package_id"], hashlib.sha256(content).hexdigest())
        await dest.report_status(item["package_id"], "03")
    async with client(a, world["source"]) as source:
        async def closed() -> dict[str, Any] | None:
            view = await source.package(package_id)
            mine = delivery(view, B_DEST)
            return view if mine["state"] == "acknowledged" and mine["statuses"] \
                and view["shredded"] else None
        view = await until(closed, "the peer's ack and status seen, content shredded")
        assert [s["code"] for s in delivery(view, B_DEST)["statuses"]] == ["03"]
        assert view["state"] == "completed"
    async with client(b, world["dest"]) as dest:
        titles = [i["title"] for i in await dest.inbox()]
        assert "Công văn liên tỉnh" not in titles  # acknowledged there, and only once


@pytest.mark.timeout(600)
async def test_the_other_way_with_the_receiving_hub_killed_and_restarted(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    a, b = hubs
    source_b = agency_app(b, "000.00.13.H29", "Sở Nội vụ TP.HCM")
    dest_a = agency_app(a, "000.00.14.H53", "Sở Nội vụ Bà Rịa - Vũng Tàu")
    file = tmp_path / "to-a.txt"
    file.write_text("Công văn từ TP.HCM")
    a.stop(kill=True)  # the destination's hub is down when B forwards: B keeps trying
    async with client(b, source_b) as source:
        sent = await source.send([dest_a["code"]], "Từ TP.HCM", file)
        await asyncio.sleep(2)  # a few failed attempts
        view = await source.package(sent["package_id"])
        assert delivery(view, dest_a["code"])["state"] == "planned"
    a.start()
    async with client(a, dest_a) as dest:
        async def arrived() -> list[dict[str, Any]]:
            return [i for i in await dest.inbox() if i["title"] == "Từ TP.HCM"]
        found = await until(arrived, "the package on A after its restart")
        assert len(found) == 1  # retried, never doubled
        await dest.ack(found[0]["package_id"], hashlib.sha256(file.read_bytes()).hexdigest())
        await dest.report_status(found[0]["package_id"], "06")
    async with client(b, source_b) as source:
        async def done() -> dict[str, Any] | None:
            view = await source.package(sent["package_id"])
            mine = delivery(view, dest_a["code"])
            return view if mine["state"] == "acknowledged" and mine["statuses"] \
                and view["shredded"] else None
        view = await until(done, "A's ack and status seen on B")
        assert [s["code"] for s in delivery(view, dest_a["code"])["statuses"]] == ["06"]


@pytest.mark.timeout(600)
async def test_the_sources_extension_and_recall_reach_the_peers_copy(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    a, b = hubs
    file = tmp_path / "recall.txt"
    file.write_text("gửi nhầm")
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    later = datetime.now(UTC) + timedelta(days=5)
    async with client(a, world["source"]) as source:
        sent = await source.send([B_DEST], "Sẽ thu hồi", file, deadline=soon)
        async def notified() -> bool:
            view = await source.package(sent["package_id"])
            return delivery(view, B_DEST)["state"] == "notified"
        await until(notified, "the package handed to B")
        await source.extend(sent["package_id"], B_DEST, later.isoformat())
    async with client(b, world["dest"]) as dest:
        async def forwarded() -> list[dict[str, Any]]:
            return [i for i in await dest.inbox() if i["title"] == "Sẽ thu hồi"]
        [item] = await until(forwarded, "the package in B's inbox")

        async def extended() -> bool:
            mine = (await dest.package(item["package_id"]))["deliveries"][0]
            return datetime.fromisoformat(mine["deadline"]) == later.replace(
                microsecond=later.microsecond // 1000 * 1000)
        await until(extended, "the extension on B's copy")
    async with client(a, world["source"]) as source:
        await source.cancel(sent["package_id"], B_DEST, "gửi nhầm")
    async with client(b, world["dest"]) as dest:
        async def recalled() -> bool:
            mine = (await dest.package(item["package_id"]))["deliveries"][0]
            return bool(mine["state"] == "recalled")
        await until(recalled, "the recall on B's copy")
        assert "Sẽ thu hồi" not in [i["title"] for i in await dest.inbox()]


@pytest.mark.timeout(600)
async def test_the_sources_recall_request_reaches_the_peer_and_the_answer_comes_back(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    """A 13 on a document B's destination already acknowledged is asked on B's copy; the
    destination's 15 there comes back to the source, and the 13 is not doubled here."""
    a, b = hubs
    file = tmp_path / "thu-hoi.txt"
    file.write_text("quyết định ban hành nhầm")
    async with client(a, world["source"]) as source:
        sent = await source.send([B_DEST], "Sẽ xin thu hồi", file)
    async with client(b, world["dest"]) as dest:
        async def arrived() -> list[dict[str, Any]]:
            return [i for i in await dest.inbox() if i["title"] == "Sẽ xin thu hồi"]
        [item] = await until(arrived, "the package in B's inbox")
        digest = await dest.fetch(item["package_id"], tmp_path / "got.txt")
        await dest.ack(item["package_id"], digest)
    async with client(a, world["source"]) as source:
        async def acked() -> bool:
            view = await source.package(sent["package_id"])
            return delivery(view, B_DEST)["state"] == "acknowledged"
        await until(acked, "the peer's ack seen by the source")
        await source.report_status(sent["package_id"], "13", "xin thu hồi",
                                   destination=B_DEST)
    async with client(b, world["dest"]) as dest:
        async def asked() -> bool:
            mine = (await dest.package(item["package_id"]))["deliveries"][0]
            return [s["code"] for s in mine["statuses"]] == ["13"]
        await until(asked, "the 13 on B's copy")
        await dest.report_status(item["package_id"], "15", "đồng ý thu hồi")
    async with client(a, world["source"]) as source:
        async def answered() -> list[str] | None:
            view = await source.package(sent["package_id"])
            codes = [s["code"] for s in delivery(view, B_DEST)["statuses"]]
            return codes if "15" in codes else None
        assert await until(answered, "the destination's 15 seen by the source") == \
            ["13", "15"]


@pytest.mark.timeout(600)
async def test_a_loop_between_zones_is_refused_and_the_source_told(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    a, _ = hubs
    file = tmp_path / "loop.txt"
    file.write_text("vòng lặp")
    async with client(a, world["source"]) as source:
        sent = await source.send([LOOPING], "Vòng lặp", file)

        async def expired() -> dict[str, Any] | None:
            view = await source.package(sent["package_id"])
            mine = delivery(view, LOOPING)
            return mine if mine["state"] == "expired" else None
        mine = await until(expired, "the loop refused")
        assert "forwarding_loop" in mine["reason"]
