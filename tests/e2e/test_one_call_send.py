"""A small package in one call (``POST /v1/packages/send``), on both backends: the same
events as the chunked path, recorded once per Idempotency-Key, the seal's refusals, and
the client falling back to chunks for content larger than the hub's chunk."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.client import TrucClient, TrucError
from hub.auth.signing import UNSIGNED_PAYLOAD
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client, first, logged, raw_chunks
from tests.e2e.hubs import RunningHub
from tests.e2e.test_door import address, answer, head, signed_headers

CHUNK = 64 * 1024
CHUNKED_PATH = ("PackageRequested", "SpaceGranted", "ChunkStored", "PackageSealed")


@pytest.fixture(scope="module", params=BACKENDS)
def small_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "one-call", chunk_bytes=str(CHUNK)) as hub:
        yield hub


def body(recipient: str, content: bytes, **extra: Any) -> dict[str, Any]:
    return {"recipients": [recipient], "title": "Công văn một lần gửi", "data_type": "pdf",
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode(), **extra}


async def events_of(hub: RunningHub, package_id: str) -> dict[str, int]:
    return {name: await logged(hub, name, package_id) for name in CHUNKED_PATH}


async def test_a_small_package_goes_in_one_call_and_is_delivered(small_hub: RunningHub,
                                                                 tmp_path: Path) -> None:
    source, dest = agency_with_app(small_hub), agency_with_app(small_hub)
    document = os.urandom(10 * 1024)
    path = tmp_path / "cv.pdf"
    path.write_bytes(document)
    async with client(small_hub, source) as src, client(small_hub, dest) as dst:
        notices = dst.watch()
        await first(notices, "hello")
        sent = await src.call("POST", "/v1/packages/send",
                              headers={"idempotency-key": "cv-1"},
                              json_body=body(dest["code"], document, priority="urgent",
                                             deadline="2099-12-01T17:00:00+07:00"))
        package_id = sent["package_id"]
        assert sent["state"] == "sealed" and sent["size"] == len(document)
        assert [d["state"] for d in sent["deliveries"]] == ["planned"], "answered planned"
        assert sent["deliveries"][0]["deadline"].startswith("2099-12-01T10:00:00")
        assert await events_of(small_hub, package_id) == dict.fromkeys(CHUNKED_PATH, 1)
        assert len(raw_chunks(small_hub, package_id)) == 1
        assert document not in raw_chunks(small_hub, package_id)[0], "stored encrypted"
        notice = await first(notices, "package.available", package_id)
        assert notice["title"] == "Công văn một lần gửi" and notice["priority"] == "urgent"
        digest = await dst.fetch(package_id, tmp_path / "got.pdf")
        assert (tmp_path / "got.pdf").read_bytes() == document
        await dst.ack(package_id, digest)
        assert (await src.package(package_id))["state"] == "completed"


async def test_a_retry_with_the_same_key_is_the_same_package_recorded_once(
        small_hub: RunningHub) -> None:
    source, dest = agency_with_app(small_hub), agency_with_app(small_hub)
    document = os.urandom(3000)
    async with client(small_hub, source) as src:
        sends = [src.call("POST", "/v1/packages/send", headers={"idempotency-key": "k-7"},
                          json_body=body(dest["code"], document)) for _ in range(3)]
        racing = await asyncio.gather(*sends)
        again = await src.call("POST", "/v1/packages/send", headers={"idempotency-key": "k-7"},
                               json_body=body(dest["code"], document))
        with pytest.raises(TrucError) as reused:
            await src.call("POST", "/v1/packages/send", headers={"idempotency-key": "k-7"},
                           json_body=body(dest["code"], os.urandom(3000)))
    ids = {s["package_id"] for s in [*racing, again]}
    assert len(ids) == 1 and all(s["state"] == "sealed" for s in [*racing, again])
    assert await events_of(small_hub, ids.pop()) == dict.fromkeys(CHUNKED_PATH, 1)
    assert reused.value.status == 409 and reused.value.code == "idempotency_key_reused"


async def test_content_not_matching_its_digest_is_rejected_as_a_seal_rejects(
        small_hub: RunningHub) -> None:
    source, dest = agency_with_app(small_hub), agency_with_app(small_hub)
    sent = body(dest["code"], b"noi dung", sha256="ab" * 32)
    async with client(small_hub, source) as src:
        with pytest.raises(TrucError) as refused:
            await src.call("POST", "/v1/packages/send", json_body=sent)
    assert refused.value.status == 422 and refused.value.code == "package_rejected"
    package = refused.value.problem["package"]
    assert package["state"] == "rejected" and package["deliveries"] == []


@pytest.mark.parametrize(("content_base64", "status", "code"), [
    ("not base64!", 400, "invalid_content"),
    ("bm9pIGR1bmc=é", 400, "invalid_content"),
    ("", 400, "invalid_package_request"),
    (base64.b64encode(b"x" * (CHUNK + 1)).decode(), 413, "too_large_for_one_call"),
    ("A" * (CHUNK * 3), 413, "payload_too_large"),
])
async def test_what_cannot_go_in_one_call_is_refused_and_nothing_recorded(
        small_hub: RunningHub, content_base64: str, status: int, code: str) -> None:
    source, dest = agency_with_app(small_hub), agency_with_app(small_hub)
    sent = {**body(dest["code"], b""), "content_base64": content_base64}
    async with client(small_hub, source) as src:
        with pytest.raises(TrucError) as refused:
            await src.call("POST", "/v1/packages/send", headers={"idempotency-key": code},
                           json_body=sent)
        assert (refused.value.status, refused.value.code) == (status, code)
        assert await src.call("GET", "/v1/inbox") == []


async def test_the_client_sends_small_content_in_one_call_and_larger_in_chunks(
        small_hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(small_hub), agency_with_app(small_hub)
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    small.write_bytes(os.urandom(CHUNK))
    large.write_bytes(os.urandom(CHUNK + 10))  # under the client's limit, over the hub's
    calls: list[str] = []

    async def seen(request: httpx.Request) -> None:
        calls.append(f"{request.method} {request.url.path}")

    async with TrucClient(small_hub.url, source["access_key"], source["secret_key"]) as src:
        src._http.event_hooks["request"].append(seen)
        one = await src.send([dest["code"]], "một", small)
        assert calls == ["POST /v1/packages/send"]
        two = await src.send([dest["code"]], "hai", large)
        src.one_call_bytes = 0
        three = await src.send([dest["code"]], "ba", small)
    assert calls[1] == "POST /v1/packages/send", "refused as too large, then in chunks:"
    steps = [c.split("/")[-1] for c in calls[2:]]
    # the client uploads chunks in parallel (PARALLEL_CHUNKS): in either order
    assert steps[0] == "packages" and sorted(steps[1:3]) == ["0", "1"]
    assert steps[3:] == ["seal", "packages", "0", "seal"]
    assert one["state"] == two["state"] == three["state"] == "sealed"
    assert len(raw_chunks(small_hub, one["package_id"])) == 1
    assert len(raw_chunks(small_hub, two["package_id"])) == 2, "fell back to chunks"
    for sent in (one, two, three):
        assert await events_of(small_hub, sent["package_id"]) == {
            "PackageRequested": 1, "SpaceGranted": 1, "PackageSealed": 1,
            "ChunkStored": len(raw_chunks(small_hub, sent["package_id"]))}


async def test_the_door_refuses_before_the_body_and_wants_the_body_signed(
        small_hub: RunningHub) -> None:
    """Through the door like every route: no credentials is a 401 before any of a 50 MB
    body is read; the body (content and recipients) must be covered by the signature."""
    with socket.create_connection(address(small_hub)) as sock:
        sock.sendall(head("POST", "/v1/packages/send", {
            "host": urlsplit(small_hub.url).netloc, "content-length": str(50 * 1024 * 1024),
            "content-type": "application/json"}))
        status, data = answer(sock)
    assert status == 401 and b"connection: close" in data.lower()
    source, dest = agency_with_app(small_hub), agency_with_app(small_hub)
    headers = signed_headers(small_hub, source, "POST", "/v1/packages/send", UNSIGNED_PAYLOAD)
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.post(f"{small_hub.url}/v1/packages/send", headers=headers,
                                  json=body(dest["code"], b"noi dung"))
    assert (refused.status_code, refused.json()["code"]) == (401, "unsigned_payload_refused")
