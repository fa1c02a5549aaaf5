"""The gateway end to end (issue 15, item 5): hub B acts as the national axis through its
facade, hub A is its client (A's zone of protocol ``axis``, its default route), on
loopback, on either backend. A document from an A agency to an agency only B knows goes up
(``sendEdoc``), is delivered, fetched, acknowledged and answered there (A killed and
restarted meanwhile), and A's source sees all of it once; a document from a B agency
to an A agency is held by B for A (B's zone of protocol ``held``), brought in by A's
poller once (A killed and restarted meanwhile), and its destination's acknowledgement
and status go back up (``updateStatus``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.edxml.builder import build
from hub.edxml.model import Document, Organ
from tests.e2e.hubs import RunningHub, running_hub
from tests.e2e.test_zone_forwarding import agency_app, client, delivery, until

A_SOURCE, A_DEST, A_HUB = "000.00.11.H53", "000.00.14.H53", "000.00.00.H53"
AXIS_HERE = "000.00.00.A01"
"""The national axis as an agency of hub A: the documents it brings in come from its app."""
B_DEST, B_SOURCE, B_DEST2 = "000.00.12.H29", "000.00.13.H29", "000.00.15.H29"


BACKENDS = ["embedded", pytest.param("distributed", marks=pytest.mark.engines)]


@pytest.fixture(scope="module", params=BACKENDS)
def hubs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Two hubs on the same backend (distributed: each its own topics and keyspace)."""
    backend = request.param
    engines = request.getfixturevalue("engines") if backend == "distributed" else None
    fast = {"zone_retry_seconds": "0.2", "zone_poll_seconds": "0.3",
            "zone_poll_max_seconds": "2", "webhook_resume_seconds": "1",
            "axis_poll_seconds": "0.5"}
    with running_hub(backend, tmp_path_factory.mktemp(f"hub-a-{backend}"), engines,
                     hub_name="hub-a", **fast) as a, \
            running_hub(backend, tmp_path_factory.mktemp(f"hub-b-{backend}"), engines,
                        hub_name="hub-b", **fast) as b:
        yield a, b


@pytest.fixture(scope="module")
def world(hubs: tuple[RunningHub, RunningHub]) -> dict[str, Any]:
    a, b = hubs
    keys = {"source": agency_app(a, A_SOURCE, "Sở Tư pháp Bà Rịa - Vũng Tàu"),
            "a_dest": agency_app(a, A_DEST, "Sở Nội vụ Bà Rịa - Vũng Tàu"),
            "b_dest": agency_app(b, B_DEST, "Sở Tư pháp TP.HCM"),
            "b_dest2": agency_app(b, B_DEST2, "Sở Y tế TP.HCM"),
            "b_source": agency_app(b, B_SOURCE, "Sở Nội vụ TP.HCM")}
    account = agency_app(b, A_HUB, "Trục Bà Rịa - Vũng Tàu")  # A's account on the axis
    axis_here = agency_app(a, AXIS_HERE, "Trục liên thông văn bản quốc gia")
    b.admin("zone", "set", "brvt", "--protocol", "held", "--local-key",
            account["access_key"], "--province", "H53")
    a.admin("zone", "set", "quoc-gia", "--protocol", "axis", "--url", b.url,
            "--access-key", account["access_key"], "--secret-key", account["secret_key"],
            "--local-key", axis_here["access_key"])
    return keys


def edxml(source: str, destination: str, subject: str, *more: str) -> bytes:
    return build(Document(
        Organ(source, "Sở gửi"), tuple(Organ(d, "Sở nhận") for d in (destination, *more)),
        document_id=f"{source},2026/11/29,{os.urandom(4).hex()}",
        code_number=str(int.from_bytes(os.urandom(3), "big")), code_notation="STP-VP",
        promulgation_place="Vũng Tàu", promulgation_date="2026-11-29", type_code="1",
        type_name="Công văn", subject=subject, signer_name="Nguyễn Văn A", priority="0",
        steering_type="0", business_doc_type="0"), [])


@pytest.mark.timeout(600)
async def test_a_document_goes_up_to_the_axis_and_its_outcome_comes_back(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    a, b = hubs
    route = a.admin("zone", "route", B_DEST, "--json")
    assert (route["zone"], route["kind"]) == ("quoc-gia", "default")
    content = edxml(A_SOURCE, B_DEST, "Công văn lên trục quốc gia", B_DEST2)
    file = tmp_path / "len-truc.edxml"
    file.write_bytes(content)
    async with client(a, world["source"]) as source:
        sent = await source.send([B_DEST, B_DEST2], "Lên trục", file, data_type="edxml")
        package_id = sent["package_id"]
    async with client(b, world["b_dest2"]) as dest2:
        async def arrived2() -> list[dict[str, Any]]:
            return [i for i in await dest2.inbox() if i["title"] == "Công văn lên trục quốc gia"]
        [item2] = await until(arrived2, "the document in B's second destination's inbox")
        await dest2.ack(item2["package_id"], hashlib.sha256(content).hexdigest())
    async with client(b, world["b_dest"]) as dest:
        async def arrived() -> list[dict[str, Any]]:
            return [i for i in await dest.inbox() if i["title"] == "Công văn lên trục quốc gia"]
        [item] = await until(arrived, "the document in B's destination's inbox")
        assert item["source"] == A_HUB  # the axis's client: hub A's account there
        assert item["package_id"] == item2["package_id"]  # sent up once for both
        got = tmp_path / "got.edxml"
        await dest.fetch(item["package_id"], got)
        assert got.read_bytes() == content
    async with client(a, world["source"]) as source:
        async def fetched() -> bool:
            view = await source.package(package_id)
            return bool(delivery(view, B_DEST)["state"] == "fetched")
        await until(fetched, "B's fetch seen on A")
    a.stop(kill=True)  # the gateway's hub dies while it follows the document
    async with client(b, world["b_dest"]) as dest:
        await dest.ack(item["package_id"], hashlib.sha256(content).hexdigest())
        await dest.report_status(item["package_id"], "03")
    a.start()
    async with client(a, world["source"]) as source:
        async def closed() -> dict[str, Any] | None:
            view = await source.package(package_id)
            mine, other = delivery(view, B_DEST), delivery(view, B_DEST2)
            return view if mine["state"] == other["state"] == "acknowledged" \
                and mine["statuses"] and view["shredded"] else None
        view = await until(closed, "B's acknowledgements and status seen on A")
        assert [s["code"] for s in delivery(view, B_DEST)["statuses"]] == ["03"]
    async with client(b, world["b_dest"]) as dest:  # sent up once
        assert [i for i in await dest.inbox() if i["source"] == A_HUB
                and i["title"] == "Công văn lên trục quốc gia"] == []


@pytest.mark.timeout(600)
async def test_the_axis_holds_a_document_for_a_and_a_brings_it_in_once(
        hubs: tuple[RunningHub, RunningHub], world: dict[str, Any], tmp_path: Path) -> None:
    a, b = hubs
    content = edxml(B_SOURCE, A_DEST, "Công văn từ trục quốc gia")
    file = tmp_path / "xuong.edxml"
    file.write_bytes(content)
    a.stop(kill=True)  # the gateway's hub is down when the axis receives the document
    async with client(b, world["b_source"]) as source:
        sent = await source.send([A_DEST], "Xuống", file, data_type="edxml")
        package_id = sent["package_id"]
        held = delivery(await source.package(package_id), A_DEST)
        assert held["state"] in ("planned", "notified")
    a.start()
    async with client(a, world["a_dest"]) as dest:
        async def arrived() -> list[dict[str, Any]]:
            return [i for i in await dest.inbox() if i["title"] == "Công văn từ trục quốc gia"]
        found = await until(arrived, "the document brought in by A's poller")
        await asyncio.sleep(2)  # a few more polls: still once
        found = await arrived()
        assert len(found) == 1
        assert found[0]["source"] == AXIS_HERE
        got = tmp_path / "got.edxml"
        await dest.fetch(found[0]["package_id"], got)
        assert got.read_bytes() == content
        await dest.ack(found[0]["package_id"], hashlib.sha256(content).hexdigest())
        await dest.report_status(found[0]["package_id"], "06")
    async with client(b, world["b_source"]) as source:
        async def done() -> dict[str, Any] | None:
            view = await source.package(package_id)
            mine = delivery(view, A_DEST)
            return view if mine["state"] == "acknowledged" and mine["statuses"] else None
        view = await until(done, "A's acknowledgement and status seen by B's source")
        assert [s["code"] for s in delivery(view, A_DEST)["statuses"]] == ["06"]
