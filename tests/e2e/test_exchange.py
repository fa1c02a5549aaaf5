"""Sending and receiving end to end, on both backends (Điều 9, 10, 5.1–5.3)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucError
from tests.e2e.exchange import agency_with_app, client, first, raw_chunks, raw_key
from tests.e2e.hubs import RunningHub, running_hub

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("content") / "ho-so.bin"
    with path.open("wb") as out:
        for _ in range(20):
            out.write(os.urandom(MiB))
    return path


async def test_one_source_three_destinations_20_mib(hub: RunningHub, big_file: Path,
                                                    tmp_path: Path) -> None:
    source = agency_with_app(hub)
    destinations = [agency_with_app(hub) for _ in range(3)]
    expected = hashlib.sha256(big_file.read_bytes()).hexdigest()
    async with client(hub, source) as src, client(hub, destinations[0]) as d0, \
            client(hub, destinations[1]) as d1, client(hub, destinations[2]) as d2:
        dests = [d0, d1, d2]
        ws, sse = d0.watch(), d1.events()
        source_notices = src.watch()
        assert (await first(ws, "hello"))["agency"] == destinations[0]["code"]
        assert (await first(sse, "hello"))["agency"] == destinations[1]["code"]
        await first(source_notices, "hello")
        sealed = await src.send([d["code"] for d in destinations], "Hồ sơ đất đai số 7",
                                big_file, data_type="pdf", priority="urgent")
        package_id = sealed["package_id"]
        assert sealed["state"] == "sealed" and sealed["sha256"] == expected
        on_ws = await first(ws, "package.available", package_id)
        on_sse = await first(sse, "package.available", package_id)
        assert on_ws["title"] == on_sse["title"] == "Hồ sơ đất đai số 7"
        assert "content" not in on_ws, "notices carry metadata, never content"
        stored = raw_chunks(hub, package_id)
        assert len(stored) == 20
        plain = big_file.read_bytes()
        pieces = [plain[i:i + 64] for i in range(0, len(plain), MiB)]
        assert not any(p in blob for blob in stored for p in pieces), "stored as ciphertext"
        for dest, key in zip(dests, destinations, strict=True):
            assert [i["package_id"] for i in await dest.inbox()] == [package_id]
            target = tmp_path / f"{key['code']}.bin"
            digest = await dest.fetch(package_id, target)
            assert digest == expected
            await dest.report_status(package_id, "03", "Đã vào sổ")
            status = await first(source_notices, "package.status", package_id)
            assert status["code"] == "03" and status["destination"] == key["code"]
            await dest.ack(package_id, digest)
        completed = await first(source_notices, "package.completed", package_id)
        assert completed["package_id"] == package_id
        view = await shown(lambda: src.package(package_id), lambda v: v["shredded"])
    assert view["state"] == "completed" and view["shredded"] is True
    assert sorted(d["state"] for d in view["deliveries"]) == ["acknowledged"] * 3
    assert all(d["statuses"][0]["code"] == "03" for d in view["deliveries"])
    assert raw_chunks(hub, package_id) == [], "no chunk remains"
    assert raw_key(hub, package_id) is None, "no key remains"


async def shown(read: Callable[[], Awaitable[dict[str, Any]]],
                ready: Callable[[dict[str, Any]], bool], seconds: float = 30) -> dict[str, Any]:
    """The package as the source reads it once ``ready``: a notice waits up to 5 s for the
    read model to show its event (``api.notifications.PATIENCE``), so on a machine busy
    enough for the package processor to lag longer, the view follows a moment later."""
    view = await read()
    for _ in range(int(seconds / 0.2)):
        if ready(view):
            break
        await asyncio.sleep(0.2)
        view = await read()
    return view


async def test_a_destination_sees_only_its_own_delivery(hub: RunningHub,
                                                       tmp_path: Path) -> None:
    source, a, b, stranger = (agency_with_app(hub) for _ in range(4))
    doc = tmp_path / "cv.txt"
    doc.write_bytes("Công văn khẩn".encode() * 100)
    async with client(hub, source) as src, client(hub, a) as dest_a, \
            client(hub, stranger) as other:
        sealed = await src.send([a["code"], b["code"]], "Công văn", doc, priority="flash")
        package_id = sealed["package_id"]
        mine = await dest_a.package(package_id)
        assert [d["agency_code"] for d in mine["deliveries"]] == [a["code"]]
        assert mine["recipients"] is None
        everything = await src.package(package_id)
        assert len(everything["deliveries"]) == 2
        for call in (lambda: other.package(package_id),
                     lambda: other.fetch(package_id, tmp_path / "x"),
                     lambda: other.ack(package_id, "0" * 64),
                     lambda: other.report_status(package_id, "01"),
                     lambda: src.fetch(package_id, tmp_path / "y"),
                     lambda: dest_a.call("GET", f"/v1/packages/{package_id}/space"),
                     lambda: other.package("00000000-0000-0000-0000-000000000000")):
            with pytest.raises(TrucError) as hidden:
                await call()
            assert hidden.value.status == 404
            assert hidden.value.code == "package_not_found"


async def test_range_requests_resume_a_download(hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = tmp_path / "doc.bin"
    doc.write_bytes(os.urandom(3 * MiB + 123))
    async with client(hub, source) as src, client(hub, dest) as dst:
        package_id = (await src.send([dest["code"]], "Dữ liệu", doc))["package_id"]
        partial = tmp_path / "partial.bin"
        partial.write_bytes(doc.read_bytes()[: MiB + 7])
        digest = await dst.fetch(package_id, partial)
        assert digest == hashlib.sha256(doc.read_bytes()).hexdigest()
        tail = await dst.request("GET", f"/v1/packages/{package_id}/content",
                                 headers={"range": "bytes=-100"})
        assert tail.status_code == 206 and tail.content == doc.read_bytes()[-100:]
        assert tail.headers["content-range"].endswith(f"/{3 * MiB + 123}")


async def test_bad_inputs_get_clear_errors_and_change_nothing(
    hub: RunningHub, tmp_path: Path
) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    content = os.urandom(2 * MiB + 10)
    digest = hashlib.sha256(content).hexdigest()
    async with client(hub, source) as src, client(hub, dest) as dst:
        async def refused(status: int, code: str, method: str, path: str, **kw: Any) -> None:
            with pytest.raises(TrucError) as caught:
                await src.request(method, path, **kw) if not kw.pop("as_dest", False) \
                    else await dst.request(method, path, **kw)
            assert (caught.value.status, caught.value.code) == (status, code), caught.value
            assert caught.value.problem.get("detail")

        await refused(400, "unknown_recipients", "POST", "/v1/packages", json_body={
            "recipients": ["000.00.98.H53"], "title": "x", "data_type": "pdf",
            "size": 10, "sha256": "0" * 64})
        space = await src.call("POST", "/v1/packages", json_body={
            "recipients": [dest["code"]], "title": "Tài liệu", "data_type": "pdf",
            "size": len(content), "sha256": digest})
        pid, size = space["package_id"], space["chunk_size"]
        chunk = content[:size]
        good = {"x-chunk-sha256": hashlib.sha256(chunk).hexdigest()}
        await refused(400, "chunk_out_of_range", "PUT", f"/v1/packages/{pid}/chunks/9",
                      content=chunk, headers=good)
        await refused(400, "chunk_digest_mismatch", "PUT", f"/v1/packages/{pid}/chunks/0",
                      content=chunk, headers={"x-chunk-sha256": "0" * 64})
        await refused(413, "payload_too_large", "PUT", f"/v1/packages/{pid}/chunks/0",
                      content=chunk + b"x" * (70 * 1024), headers=good)
        await refused(400, "chunk_size_mismatch", "PUT", f"/v1/packages/{pid}/chunks/0",
                      content=chunk[:-1],
                      headers={"x-chunk-sha256": hashlib.sha256(chunk[:-1]).hexdigest()})
        for _ in range(2):  # re-sending a chunk is harmless
            await src.request("PUT", f"/v1/packages/{pid}/chunks/0", content=chunk,
                              headers=good)
        await refused(409, "chunks_missing", "POST", f"/v1/packages/{pid}/seal", json_body={})
        space_now = await src.call("GET", f"/v1/packages/{pid}/space")
        assert space_now["received"] == [0] and space_now["missing"] == [1, 2]
        path = tmp_path / "c.bin"
        path.write_bytes(content)
        await src.upload(pid, path)
        await src.call("POST", f"/v1/packages/{pid}/seal", json_body={})
        await refused(409, "space_closed", "PUT", f"/v1/packages/{pid}/chunks/0",
                      content=chunk, headers=good)
        await refused(409, "digest_mismatch", "POST", f"/v1/packages/{pid}/ack",
                      json_body={"sha256": "0" * 64}, as_dest=True)
        assert (await dst.package(pid))["deliveries"][0]["state"] != "acknowledged"
        await dst.ack(pid, digest)
        await refused(409, "already_acknowledged", "POST", f"/v1/packages/{pid}/ack",
                      json_body={"sha256": "0" * 64}, as_dest=True)


async def test_a_wrong_whole_digest_rejects_the_package(hub: RunningHub,
                                                       tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    content = os.urandom(1000)
    async with client(hub, source) as src:
        notices = src.watch()
        await first(notices, "hello")
        space = await src.call("POST", "/v1/packages", json_body={
            "recipients": [dest["code"]], "title": "Sai", "data_type": "pdf",
            "size": 1000, "sha256": "ab" * 32})
        await src.request("PUT", f"/v1/packages/{space['package_id']}/chunks/0",
                          content=content,
                          headers={"x-chunk-sha256": hashlib.sha256(content).hexdigest()})
        with pytest.raises(TrucError) as rejected:
            await src.call("POST", f"/v1/packages/{space['package_id']}/seal", json_body={})
        assert (rejected.value.status, rejected.value.code) == (422, "package_rejected")
        told = await first(notices, "package.rejected", space["package_id"])
        assert told["reason_code"] == "digest_mismatch"
        view = await src.package(space["package_id"])
        async with asyncio.timeout(30):
            while not view["shredded"]:
                await asyncio.sleep(0.2)
                view = await src.package(space["package_id"])
    assert view["state"] == "rejected"
    assert raw_chunks(hub, space["package_id"]) == [], "a rejected package keeps no content"
    assert raw_key(hub, space["package_id"]) is None


async def test_an_expired_space_refuses_uploads(tmp_path: Path) -> None:
    """Spaces here live 1.2 s: a chunk after that is refused, and nothing is stored."""
    with running_hub("embedded", tmp_path, space_ttl_minutes="0.02") as short:
        source, dest = agency_with_app(short), agency_with_app(short)
        async with client(short, source) as src:
            space = await src.call("POST", "/v1/packages", json_body={
                "recipients": [dest["code"]], "title": "x", "data_type": "pdf", "size": 5,
                "sha256": hashlib.sha256(b"hello").hexdigest()})
            await asyncio.sleep(1.5)
            with pytest.raises(TrucError) as expired:
                await src.request("PUT", f"/v1/packages/{space['package_id']}/chunks/0",
                                  content=b"hello",
                                  headers={"x-chunk-sha256": hashlib.sha256(b"hello").hexdigest()})
            assert (expired.value.status, expired.value.code) == (410, "space_expired")
            assert raw_chunks(short, space["package_id"]) == []


async def test_idempotency_key_returns_the_same_space(hub: RunningHub) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    body = {"recipients": [dest["code"]], "title": "x", "data_type": "json", "size": 5,
            "sha256": hashlib.sha256(b"hello").hexdigest()}
    async with client(hub, source) as src:
        one = await src.call("POST", "/v1/packages", json_body=body,
                             headers={"idempotency-key": "req-42"})
        two = await src.call("POST", "/v1/packages", json_body=body,
                             headers={"idempotency-key": "req-42"})
        three = await src.call("POST", "/v1/packages", json_body=body)
    assert one["package_id"] == two["package_id"] != three["package_id"]




async def test_a_recall_request_13_reaches_the_destination_which_answers_15(
        hub: RunningHub, tmp_path: Path) -> None:
    """The business recall of a document already received and shredded (national codes
    13, 15, 16): the source asks, the destination's system is told and answers."""
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = tmp_path / "qd.txt"
    doc.write_bytes("Quyết định số 12".encode() * 50)
    async with client(hub, source) as src, client(hub, dest) as dst:
        dest_notices, source_notices = dst.watch(), src.watch()
        await first(dest_notices, "hello")
        await first(source_notices, "hello")
        package_id = (await src.send([dest["code"]], "Quyết định", doc))["package_id"]
        await dst.ack(package_id, await dst.fetch(package_id, tmp_path / "got"))
        with pytest.raises(TrucError) as unasked:
            await dst.report_status(package_id, "16")
        assert (unasked.value.status, unasked.value.code) == (409, "no_recall_requested")
        with pytest.raises(TrucError) as unnamed:
            await src.report_status(package_id, "13")
        assert (unnamed.value.status, unnamed.value.code) == (400, "destination_required")
        await src.report_status(package_id, "13", "Ban hành nhầm", destination=dest["code"])
        asked = await first(dest_notices, "package.status", package_id)
        assert (asked["code"], asked["reported_by"], asked["note"]) == (
            "13", source["code"], "Ban hành nhầm")
        answered = await dst.report_status(package_id, "15", "Đã thu hồi")
        assert [s["code"] for s in answered["deliveries"][0]["statuses"]] == ["13", "15"]
        told = await first(source_notices, "package.status", package_id)
        while told["code"] != "15":
            told = await first(source_notices, "package.status", package_id)
        assert told["destination"] == dest["code"]
