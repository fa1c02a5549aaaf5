"""The door, against a real hub process over real sockets: credentials before the body,
bodies read with their limit, JSON depth, UNSIGNED-PAYLOAD only on chunk uploads, and
slow headers and bodies cut off (issue 10, findings 4, 5 and 10)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hub.auth.signing import UNSIGNED_PAYLOAD, sign_request
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub

HEADER_SECONDS = 2
BODY_SECONDS = 2
MiB = 1024 * 1024


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "door",
                     header_timeout_seconds=str(HEADER_SECONDS),
                     body_timeout_seconds=str(BODY_SECONDS)) as running:
        yield running


@pytest.fixture(scope="module")
def app_key(hub: RunningHub) -> dict[str, Any]:
    return agency_with_app(hub)


def address(hub: RunningHub) -> tuple[str, int]:
    parts = urlsplit(hub.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def rss_kib(hub: RunningHub) -> int:
    """The API process's resident memory (the first process started is ``truc serve``)."""
    api = next(p for p in hub.procs if list(p.args)[-1] == "serve")  # type: ignore[arg-type]
    for line in Path(f"/proc/{api.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def signed_headers(hub: RunningHub, key: dict[str, Any], method: str, path: str,
                   payload: str, **extra: str) -> dict[str, str]:
    headers = {"content-type": "application/json", **extra}
    headers.update(sign_request(method, f"{hub.url}{path}", headers, payload,
                                access_key=key["access_key"], secret=key["secret_key"],
                                algorithm="TRUC4-HMAC-SHA256", now=datetime.now(UTC),
                                region="vn", service="truc"))
    return headers


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    """A request line and headers, each header once (the signed ``Host`` wins)."""
    once: dict[str, str] = {}
    for name, value in headers.items():
        once.setdefault(name.lower(), value) if name.lower() == "host" else \
            once.__setitem__(name.lower(), value)
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in once.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock: socket.socket, seconds: float = 20) -> tuple[int, bytes]:
    """The status and the bytes of one response, its body included (Content-Length)."""
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _length(data):
        part = sock.recv(65536)
        if not part:
            break
        data += part
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1]), data


def _length(data: bytes) -> int:
    """The length of a whole response whose head is in ``data``."""
    head_, _, _ = data.partition(b"\r\n\r\n")
    for line in head_.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(head_) + 4 + int(line.split(b":")[1])
    return 0


BAD_CREDENTIALS = {
    "none": {},
    "unknown key": {"authorization": "TRUC4-HMAC-SHA256 Credential=AKNOBODY/20260101/vn/truc/"
                                     "truc4_request, SignedHeaders=host;x-truc-date, "
                                     "Signature=" + "0" * 64,
                    "x-truc-date": "20260101T000000Z"},
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_no_credentials_are_refused_before_the_body(hub: RunningHub,
                                                    credentials: dict[str, str]) -> None:
    """Only the headers are sent: the 401 comes without the hub waiting for 50 MB."""
    host = urlsplit(hub.url).netloc
    with socket.create_connection(address(hub)) as sock:
        sock.sendall(head("POST", "/v1/packages", {"host": host, "content-length": str(50 * MiB),
                                                   "content-type": "application/json",
                                                   **credentials}))
        status, data = answer(sock)
    assert status == 401
    assert b"connection: close" in data.lower()


def test_a_client_sending_a_small_refused_body_reads_the_refusal(
        hub: RunningHub, app_key: dict[str, Any]) -> None:
    """A body up to twice the limit is read and dropped after the answer rather than cut
    off, so a client still sending it reads the 401 (or 413), not a reset."""
    body = b" " * (MiB + 70 * 1024)
    bad = signed_headers(hub, app_key, "POST", "/v1/packages", hashlib.sha256(body).hexdigest())
    bad = {k: v.replace("Signature=", "Signature=0") if k.lower() == "authorization" else v
           for k, v in bad.items()}
    for headers, status in (({}, 401), (bad, 401),
                            (signed_headers(hub, app_key, "POST", "/v1/packages",
                                            hashlib.sha256(body).hexdigest()), 413)):
        response = httpx.post(f"{hub.url}/v1/packages", content=body, headers=headers,
                              timeout=30)
        assert response.status_code == status, response.text
        assert response.headers.get("connection") != "close"


def test_credentials_that_cannot_match_are_refused_before_the_body(
        hub: RunningHub, app_key: dict[str, Any]) -> None:
    """A real key, but signed an hour ago, or without the date among the signed headers."""
    host = urlsplit(hub.url).netloc
    late = {k.lower(): v for k, v in
            signed_headers(hub, app_key, "POST", "/v1/packages", "a" * 64).items()}
    late["x-truc-date"] = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    undated = {k.lower(): v for k, v in
               signed_headers(hub, app_key, "POST", "/v1/packages", "a" * 64).items()}
    undated["authorization"] = undated["authorization"].replace(";x-truc-date", "")
    for headers, code in ((late, b"clock_skew"), (undated, b"unsigned_header")):
        with socket.create_connection(address(hub)) as sock:
            sock.sendall(head("POST", "/v1/packages", {**headers, "host": host,
                                                       "content-length": str(50 * MiB)}))
            status, data = answer(sock)
        assert status == 401 and code in data


def test_an_unauthenticated_chunked_body_is_not_buffered(hub: RunningHub) -> None:
    """100 MB sent chunked with no credentials: 401, and the API's memory does not grow
    by the body (it did by about the whole of it)."""
    host = urlsplit(hub.url).netloc
    before = rss_kib(hub)
    block = b"x" * MiB
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent = [0]
    with socket.create_connection(address(hub)) as sock:
        sock.sendall(head("POST", "/v1/packages", {"host": host,
                                                   "transfer-encoding": "chunked",
                                                   "content-type": "application/json"}))

        def send() -> None:
            try:
                for _ in range(100):
                    sock.sendall(chunk)
                    sent[0] += len(block)
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the hub closed the connection: what we want

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        status, _ = answer(sock, 60)
        with contextlib.suppress(OSError):  # already closed by the hub
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(60)
    assert status == 401
    grown_mib = (rss_kib(hub) - before) / 1024
    assert grown_mib < 64, f"the API grew by {grown_mib:.0f} MiB for {sent[0] // MiB} MiB sent"


def test_a_declared_oversized_json_body_is_refused_before_it_is_read(
        hub: RunningHub, app_key: dict[str, Any]) -> None:
    """A signed call declaring 50 MB: 413 at once, the body never sent."""
    host = urlsplit(hub.url).netloc
    headers = signed_headers(hub, app_key, "POST", "/v1/packages", "b" * 64)
    with socket.create_connection(address(hub)) as sock:
        sock.sendall(head("POST", "/v1/packages", {**headers, "host": host,
                                                   "content-length": str(50 * MiB)}))
        status, data = answer(sock)
    assert status == 413 and b"payload_too_large" in data


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000,
                                  b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
                         ids=["balanced", "unclosed", "objects"])
def test_deeply_nested_json_is_a_400_not_a_crash(hub: RunningHub, app_key: dict[str, Any],
                                                 body: bytes) -> None:
    path = "/v1/packages"
    headers = signed_headers(hub, app_key, "POST", path, hashlib.sha256(body).hexdigest())
    response = httpx.post(f"{hub.url}{path}", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "json_too_deep"
    assert httpx.get(f"{hub.url}/v1/time", timeout=10).status_code == 200


def test_an_oversized_chunked_json_body_is_cut_at_the_limit(
        hub: RunningHub, app_key: dict[str, Any]) -> None:
    """No Content-Length: the hub reads up to its limit (1 MiB), then 413."""
    body = b" " * (3 * MiB)
    headers = signed_headers(hub, app_key, "POST", "/v1/packages",
                             hashlib.sha256(body).hexdigest())

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    try:
        response = httpx.post(f"{hub.url}/v1/packages", content=chunks(), headers=headers,
                              timeout=30)
    except httpx.TransportError:  # the hub may close before the client has sent it all
        return
    assert response.status_code == 413


async def test_unsigned_payload_cannot_turn_a_redirect_or_a_send(
        hub: RunningHub, tmp_path: Path) -> None:
    """A body not covered by the signature could be changed on the way: B→D became B→C,
    and a send's recipients were swapped. Small routes now refuse UNSIGNED-PAYLOAD; the
    chunk upload keeps it (each chunk carries its own SHA-256)."""
    source, b, c, d = (agency_with_app(hub) for _ in range(4))
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"cong van")
    async with client(hub, source) as src:
        package_id = (await src.send([b["code"]], "Công văn", doc))["package_id"]
    async with httpx.AsyncClient(timeout=30) as http:
        path = f"/v1/packages/{package_id}/deliveries/{b['code']}/redirect"
        headers = signed_headers(hub, source, "POST", path, UNSIGNED_PAYLOAD)
        meant, tampered = json.dumps({"to": d["code"]}), json.dumps({"to": c["code"]})
        assert meant != tampered
        refused = await http.post(f"{hub.url}{path}", content=tampered, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "unsigned_payload_refused"
        signed = signed_headers(hub, source, "POST", path,
                                hashlib.sha256(meant.encode()).hexdigest())
        swapped = await http.post(f"{hub.url}{path}", content=tampered, headers=signed)
        assert (swapped.status_code, swapped.json()["code"]) == (401, "payload_mismatch")
        async with client(hub, source) as src:
            view = await src.package(package_id)
        states = {x["agency_code"]: x["state"] for x in view["deliveries"]}
        assert states == {b["code"]: "planned"}

        send: dict[str, Any] = {"recipients": [c["code"]], "title": "t", "data_type": "pdf",
                                "size": 4, "sha256": hashlib.sha256(b"abcd").hexdigest()}
        headers = signed_headers(hub, source, "POST", "/v1/packages", UNSIGNED_PAYLOAD)
        refused = await http.post(f"{hub.url}/v1/packages", json=send, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (401, "unsigned_payload_refused")

        body = json.dumps(send).encode()
        headers = signed_headers(hub, source, "POST", "/v1/packages",
                                 hashlib.sha256(body).hexdigest())
        space = await http.post(f"{hub.url}/v1/packages", content=body, headers=headers)
        assert space.status_code == 201, space.text
        chunk_path = f"/v1/packages/{space.json()['package_id']}/chunks/0"
        headers = signed_headers(hub, source, "PUT", chunk_path, UNSIGNED_PAYLOAD,
                                 **{"x-chunk-sha256": str(send["sha256"])})
        put = await http.put(f"{hub.url}{chunk_path}", content=b"abcd", headers=headers)
        assert put.status_code == 200, put.text


def test_slow_headers_do_not_hold_the_hub(hub: RunningHub) -> None:
    """300 sockets sending headers that never end: a normal request still answers, and
    the hub closes every one of them once the header timeout has passed."""
    sockets = [socket.create_connection(address(hub)) for _ in range(300)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /v1/time HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert httpx.get(f"{hub.url}/v1/time", timeout=10).status_code == 200
        for sock in sockets:
            sock.settimeout(HEADER_SECONDS + 30)  # bounded: a hub that never closes fails
            data = b""
            while part := sock.recv(4096):
                data += part
            assert data.startswith(b"HTTP/1.1 408"), data[:100]
    finally:
        for sock in sockets:
            sock.close()


def test_a_slow_body_is_cut_off(hub: RunningHub, app_key: dict[str, Any]) -> None:
    """A signed call whose body comes a byte a second: 408 and closed, long before its
    100 bytes are in (the body timeout is 2 s and the minimum rate 1 KiB/s after it)."""
    body = b" " * 100
    host = urlsplit(hub.url).netloc
    headers = signed_headers(hub, app_key, "POST", "/v1/auth/sessions",
                             hashlib.sha256(body).hexdigest())
    with socket.create_connection(address(hub)) as sock:
        sock.sendall(head("POST", "/v1/auth/sessions",
                          {**headers, "host": host, "content-length": str(len(body))}))
        sock.settimeout(0.01)
        start, data = time.monotonic(), b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
                data += sock.recv(4096)
            except TimeoutError:
                pass
            except OSError:
                break
            if data:
                break
            time.sleep(1)
        waited = time.monotonic() - start
        if not data:
            _, data = answer(sock, 30)
    assert data.startswith(b"HTTP/1.1 408"), data[:100]
    assert waited < len(body) - 10  # it did not wait for the whole body
