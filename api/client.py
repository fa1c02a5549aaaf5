"""The Truc client: an async Python client that signs every request for you.

Used by the `truc` CLI and the tests, and meant for agencies' developers:

    async with TrucClient(url, access_key, secret_key) as hub:
        me = await hub.whoami()

On entering, it reads ``GET /v1/time`` once: the hub's region and service (the signing
scope) and the offset between the hub's clock and this machine's, so that requests are
signed with the hub's time even when the local clock drifts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from hub.auth.signing import TRUC4, Scheme, sign_request
from infra.rsa_keys import sign_rsa


class TrucError(Exception):
    """A refusal from the hub, with its problem body (``code``, ``detail``…)."""

    def __init__(self, status: int, problem: dict[str, Any],
                 retry_after: float | None = None) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code", "error"))
        self.retry_after = retry_after
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")

    @property
    def retriable(self) -> bool:
        return bool(self.problem.get("retriable"))


class NotText(ValueError):
    """A value to send is not valid Unicode text: it holds a lone surrogate, which is how
    Python carries command-line bytes that are not UTF-8 (``$(printf 'C\\xf4ng')``).
    Raised before anything is sent; the hub would refuse it (400) anyway."""


def check_text(value: Any, where: str = "body") -> None:
    """``NotText`` naming the first field of a JSON body that is not valid Unicode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise NotText(f"{where} is not valid UTF-8 text: {value!r}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(item, str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            check_text(item, where)


RETRIES = 8
"""Retries of a retriable refusal or a lost connection: about a minute of backoff in all."""
MAX_RETRY_AFTER = 10.0
"""The longest ``Retry-After`` honoured; a longer one is waited this long."""
RETRIED_POSTS = ("/seal", "/ack")
"""POSTs the hub makes idempotent (besides a send with an Idempotency-Key): sealing
twice answers with the package as it is; acking twice with the same digest answers with
the recorded ack. Status reports, extend, redirect and cancel are not retried: each
call counts."""


def safe_to_repeat(method: str, path: str, headers: dict[str, str] | None) -> bool:
    """Calls the client may send again when their answer was lost or was a 503."""
    return method in ("GET", "PUT") or "idempotency-key" in (headers or {}) \
        or path.endswith(RETRIED_POSTS)


def pause(refused: TrucError | None, delay: float) -> float:
    """How long to wait before the next attempt: the hub's ``Retry-After`` (capped)
    when it gave one, else the backoff ``delay``."""
    if refused is not None and refused.retry_after is not None:
        return min(max(refused.retry_after, 0.0), MAX_RETRY_AFTER)
    return delay
KEEPALIVE_SECONDS = 4.0
"""How long an idle connection is kept for reuse: less than uvicorn's 5 s keep-alive."""
PARALLEL_CHUNKS = 4
"""Chunk uploads in flight at once: the hub hashes, encrypts and stores one while the
next is on the wire."""


ONE_CALL_BYTES = 1024 * 1024
"""Content up to this size is sent in one call (``send_in_one_call``); larger content,
or content the hub finds too large for one call, goes in chunks. 0: always in chunks."""


SEAL_MIB_PER_S = 4
"""The slowest rate at which a hub is expected to read content back to check the whole
digest at seal (a 1 GiB package on a loaded Kafka + Cassandra hub took 40 s)."""


def seal_timeout(size: int, timeout: float) -> float:
    """Sealing reads the whole content back: large packages get more than the default."""
    return max(timeout, size / (SEAL_MIB_PER_S * 2**20))


class TrucClient:
    def __init__(self, url: str, access_key: str, secret_key: str | None = None, *,
                 private_key_pem: str | None = None, algorithm: str | None = None,
                 timeout: float = 30, retries: int = RETRIES,
                 one_call_bytes: int = ONE_CALL_BYTES) -> None:
        if (secret_key is None) == (private_key_pem is None):
            raise ValueError("give either a secret key (HMAC) or a private key (RSA)")
        self.url = url.rstrip("/")
        self.access_key = access_key
        self._secret = secret_key or private_key_pem or ""
        default = Scheme.RSA_SHA256 if private_key_pem else Scheme.HMAC_SHA256
        self.algorithm = algorithm or default.algorithm(TRUC4)
        # idle connections are dropped before uvicorn's 5 s keep-alive closes them, so a
        # request is rarely sent on a connection the hub is closing at that moment
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout,
                                       limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS))
        self.timeout = timeout
        self.retries = retries
        self.one_call_bytes = one_call_bytes
        self.region = "vn"
        self.service = "truc"
        self.clock_offset = timedelta(0)

    async def __aenter__(self) -> TrucClient:
        await self.sync_time()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._http.aclose()

    async def sync_time(self) -> dict[str, Any]:
        """Learns the signing scope and the clock offset (half the round trip corrects it)."""
        began = time.time()
        response = await self._http.get("/v1/time")
        ended = time.time()
        info: dict[str, Any] = response.json()
        self.region, self.service = info["region"], info["service"]
        local_mid = (began + ended) / 2
        self.clock_offset = timedelta(seconds=info["epoch_ms"] / 1000 - local_mid)
        return info

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def sign(self, method: str, url: httpx.URL, body: bytes,
             headers: dict[str, str]) -> dict[str, str]:
        """Headers that authenticate the request. A signed random nonce makes every
        signature unique, so a retried POST is never mistaken for a replay."""
        headers["x-truc-nonce"] = uuid.uuid4().hex
        digest = hashlib.sha256(body).hexdigest()
        raw = url.raw_path.decode()
        target = f"{self.url}{raw}"
        return sign_request(
            method, target, headers, digest, access_key=self.access_key, secret=self._secret,
            algorithm=self.algorithm, now=self.now(), region=self.region,
            service=self.service, rsa_signer=sign_rsa)

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      content: bytes | None = None, params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None,
                      wait_seconds: float | None = None) -> httpx.Response:
        """One signed call; a refusal the hub marks retriable (a 503: a processor
        catching up, an engine down), or a connection lost before the answer, is retried
        when repeating it is safe (``safe_to_repeat``; a refused connection: always),
        after the hub's ``Retry-After`` or a doubling backoff, ``retries`` times at most.
        ``wait_seconds``: how long to wait for the hub's bytes (default: the client's)."""
        safe = safe_to_repeat(method, path, headers)
        delay = 0.2
        for attempt in range(self.retries + 1):
            last: TrucError | None = None
            try:
                return await self._request_once(method, path, json_body=json_body,
                                                content=content, params=params,
                                                headers=dict(headers or {}),
                                                wait_seconds=wait_seconds or self.timeout)
            except TrucError as refused:
                if not (safe and refused.retriable) or attempt == self.retries:
                    raise
                last = refused
            except httpx.ConnectError:
                if attempt == self.retries:  # nothing was sent: safe to try again, any method
                    raise
            except httpx.RemoteProtocolError:
                # the hub closed the connection without answering (a keep-alive connection
                # closed as it was reused, a node restarting): the request may have been
                # handled, so only a call safe to repeat is sent again
                if not safe or attempt == self.retries:
                    raise
            await asyncio.sleep(pause(last, delay))
            delay = min(delay * 2, 5)
        raise AssertionError("unreachable")

    async def _request_once(self, method: str, path: str, *, json_body: Any,
                            content: bytes | None, params: dict[str, str] | None,
                            headers: dict[str, str], wait_seconds: float
                            ) -> httpx.Response:
        check_text(json_body)
        body = content if content is not None else (
            b"" if json_body is None else json.dumps(json_body).encode())
        sent = dict(headers or {})
        if json_body is not None:
            sent["content-type"] = "application/json"
        url = self._http.build_request(method, path, params=params).url
        sent.update(self.sign(method, url, body, sent))
        sent.pop("Host", None)
        response = await self._http.request(method, url, content=body, headers=sent,
                                            timeout=wait_seconds)
        if response.status_code >= 400:
            raise refusal(response)
        return response

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        return (await self.request(method, path, **kw)).json()

    async def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/v1/whoami")
        return result

    async def open_session(self, destination: str,
                           operations: list[str] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", "/v1/auth/sessions",
            json_body={"destination": destination, "operations": operations or []})
        return result

    async def introspect(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/v1/auth/introspect",
                                                 json_body={"token": token})
        return result


    # --- sending -------------------------------------------------------------------------

    async def send(self, recipients: list[str], title: str, path: Path, *,
                   data_type: str = "binary", priority: str = "normal",
                   idempotency_key: str | None = None, deadline: str | None = None,
                   offline_wait_seconds: int | None = None,
                   progress: Progress | None = None,
                   sealing: Callable[[], None] | None = None) -> dict[str, Any]:
        """Content up to ``one_call_bytes`` in one call (``send_in_one_call``); larger:
        request a space, upload ``path`` chunk by chunk (resuming what the hub already
        has), and seal it (``sealing`` is called first: the hub reads the whole content
        back, which takes a while for a large file). Returns the sealed package; raises
        ``TrucError`` if rejected."""
        size, digest = await asyncio.to_thread(file_digest, path)
        headers = {"idempotency-key": idempotency_key or uuid.uuid4().hex}
        if size <= self.one_call_bytes:
            if sealing:
                sealing()
            sent = await self.send_in_one_call(recipients, title, path, digest=digest,
                                               headers=headers, fields={
                "data_type": data_type, "priority": priority, "deadline": deadline,
                "offline_wait_seconds": offline_wait_seconds})
            if sent is not None:
                if progress:
                    progress(size)
                return sent
        space = await self.call("POST", "/v1/packages", headers=headers, json_body={
            "recipients": recipients, "title": title, "priority": priority,
            "data_type": data_type, "size": size, "sha256": digest})
        if idempotency_key is None:  # a key of our own: a new package, nothing uploaded yet
            space = {**space, "missing": list(range(space["chunk_count"]))}
        await self.upload(space["package_id"], path, progress=progress,
                          space=space if "missing" in space else None)
        if sealing:
            sealing()
        sealed: dict[str, Any] = await self.call(
            "POST", f"/v1/packages/{space['package_id']}/seal",
            json_body={"deadline": deadline, "offline_wait_seconds": offline_wait_seconds},
            wait_seconds=seal_timeout(size, self.timeout))
        if space.get("successors"):  # recipients named by closed codes: their new codes
            sealed = {**sealed, "successors": space["successors"]}
        return sealed

    async def send_in_one_call(self, recipients: list[str], title: str, path: Path, *,
                               digest: str, headers: dict[str, str],
                               fields: dict[str, Any]) -> dict[str, Any] | None:
        """``POST /v1/packages/send``: content and metadata in one signed call, sealed on
        arrival. None when the hub refuses it as too large for one call (its chunk is
        smaller than this content, 413): then the caller sends in chunks, with the same
        Idempotency-Key (nothing was recorded)."""
        content = await asyncio.to_thread(path.read_bytes)
        if hashlib.sha256(content).hexdigest() != digest:
            raise ValueError(f"{path} changed while it was being sent")
        body = {"recipients": recipients, "title": title, "sha256": digest,
                "content_base64": base64.b64encode(content).decode("ascii"), **fields}
        try:
            sent: dict[str, Any] = await self.call(
                "POST", "/v1/packages/send", headers=headers, json_body=body)
        except TrucError as refused:
            if refused.status == 413:
                return None
            raise
        return sent

    async def send_from(self, recipients: list[str], title: str, size: int, sha256: str,
                        read: Callable[[int, int], Awaitable[bytes]], *,
                        idempotency_key: str, data_type: str = "binary",
                        priority: str = "normal", deadline: str | None = None,
                        offline_wait_seconds: int | None = None,
                        trace: list[str] | None = None) -> dict[str, Any]:
        """``send`` for content that is not a file: ``read(offset, length)`` gives its
        bytes (a hub forwarding a package it holds encrypted, ``hub.zones``). Up to
        ``one_call_bytes`` in one call, else chunk by chunk in the peer's chunk size, the
        chunks it is missing only; ``trace`` names the hubs the package crossed."""
        headers = {"idempotency-key": idempotency_key}
        extra: dict[str, Any] = {"trace": trace} if trace else {}
        if size <= self.one_call_bytes:
            content = await read(0, size)
            body = {"recipients": recipients, "title": title, "sha256": sha256,
                    "content_base64": base64.b64encode(content).decode("ascii"),
                    "data_type": data_type, "priority": priority, "deadline": deadline,
                    "offline_wait_seconds": offline_wait_seconds, **extra}
            try:
                sent: dict[str, Any] = await self.call(
                    "POST", "/v1/packages/send", headers=headers, json_body=body)
                return sent
            except TrucError as too_large:
                if too_large.status != 413:
                    raise
        space = await self.call("POST", "/v1/packages", headers=headers, json_body={
            "recipients": recipients, "title": title, "priority": priority,
            "data_type": data_type, "size": size, "sha256": sha256, **extra})
        package_id = space["package_id"]
        if space.get("state") not in (None, "uploading"):  # sealed by an earlier call
            return await self.package(package_id)
        if "missing" not in space:
            space = await self.call("GET", f"/v1/packages/{package_id}/space")
        chunk = space["chunk_size"]
        for index in space["missing"]:
            data = await read(index * chunk, min(chunk, size - index * chunk))
            await self.request(
                "PUT", f"/v1/packages/{package_id}/chunks/{index}", content=data,
                headers={"x-chunk-sha256": hashlib.sha256(data).hexdigest(),
                         "content-type": "application/octet-stream"})
        sealed: dict[str, Any] = await self.call(
            "POST", f"/v1/packages/{package_id}/seal",
            json_body={"deadline": deadline, "offline_wait_seconds": offline_wait_seconds},
            wait_seconds=seal_timeout(size, self.timeout))
        return sealed

    async def upload(self, package_id: str, path: Path, *,
                     progress: Progress | None = None, space: dict[str, Any] | None = None,
                     parallel: int = PARALLEL_CHUNKS) -> None:
        """Uploads the chunks the hub is missing (``space``: what ``GET …/space``
        answers, asked when not given), ``parallel`` at a time; safe to call again after
        a failure."""
        if space is None:
            space = await self.call("GET", f"/v1/packages/{package_id}/space")
        size, missing = space["chunk_size"], set(space["missing"])
        indexes = iter(range(space["chunk_count"]))
        with path.open("rb") as source:

            async def uploader() -> None:
                for index in indexes:  # shared: each uploader takes the next chunk
                    chunk = await asyncio.to_thread(os.pread, source.fileno(), size,
                                                    index * size)
                    if index in missing:
                        await self.request(
                            "PUT", f"/v1/packages/{package_id}/chunks/{index}", content=chunk,
                            headers={"x-chunk-sha256": hashlib.sha256(chunk).hexdigest(),
                                     "content-type": "application/octet-stream"})
                    if progress:
                        progress(len(chunk))

            await _all_or_none([uploader() for _ in range(max(1, parallel))])

    async def extend(self, package_id: str, code: str, deadline: str) -> dict[str, Any]:
        """New deadline (ISO 8601 with a zone) for the delivery to agency ``code``."""
        result: dict[str, Any] = await self.call(
            "POST", f"/v1/packages/{package_id}/deliveries/{code}/extend",
            json_body={"deadline": deadline})
        return result

    async def redirect(self, package_id: str, from_code: str, to_code: str) -> dict[str, Any]:
        """Deliver to ``to_code`` instead of ``from_code``."""
        result: dict[str, Any] = await self.call(
            "POST", f"/v1/packages/{package_id}/deliveries/{from_code}/redirect",
            json_body={"to": to_code})
        return result

    async def cancel(self, package_id: str, code: str | None = None,
                     reason: str | None = None) -> dict[str, Any]:
        """Recall the delivery to ``code``, or every open delivery when ``code`` is None."""
        path = f"/v1/packages/{package_id}" + (f"/deliveries/{code}" if code else "")
        result: dict[str, Any] = await self.call("POST", f"{path}/cancel",
                                                 json_body={"reason": reason})
        return result

    # --- receiving -----------------------------------------------------------------------

    async def inbox(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", "/v1/inbox")
        return result

    async def package(self, package_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/v1/packages/{package_id}")
        return result

    async def fetch(self, package_id: str, target: Path, *,
                    progress: Progress | None = None) -> str:
        """Streams the content to ``target`` (resuming a partial file with Range) and
        returns the SHA-256 of the whole file. A 503 or a lost connection is retried
        (a GET is safe to repeat), resuming from what was written."""
        delay = 0.2
        for attempt in range(self.retries + 1):
            last: TrucError | None = None
            try:
                return await self._fetch_once(package_id, target, progress)
            except TrucError as refused:
                if not refused.retriable or attempt == self.retries:
                    raise
                last = refused
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                if attempt == self.retries:
                    raise
            await asyncio.sleep(pause(last, delay))
            delay = min(delay * 2, 5)
        raise AssertionError("unreachable")

    async def _fetch_once(self, package_id: str, target: Path,
                          progress: Progress | None) -> str:
        have = await asyncio.to_thread(_size_or_zero, target)
        headers = {"range": f"bytes={have}-"} if have else {}
        path = f"/v1/packages/{package_id}/content"
        url = self._http.build_request("GET", path).url
        signed = self.sign("GET", url, b"", headers)
        sent = {**headers, **signed}
        sent.pop("Host", None)
        async with self._http.stream("GET", url, headers=sent) as response:
            if response.status_code >= 400:
                await response.aread()
                raise refusal(response)
            mode = "ab" if response.status_code == 206 else "wb"
            with target.open(mode) as out:
                async for part in response.aiter_bytes(1024 * 1024):
                    await asyncio.to_thread(out.write, part)
                    if progress:
                        progress(len(part))
        return (await asyncio.to_thread(file_digest, target))[1]

    async def ack(self, package_id: str, sha256: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/v1/packages/{package_id}/ack",
                                                 json_body={"sha256": sha256})
        return result

    async def report_status(self, package_id: str, code: str, note: str | None = None,
                            destination: str | None = None) -> dict[str, Any]:
        """A destination's status (01–06, 15/16 answering a recall), or the source's recall
        request (13) on the delivery to ``destination``."""
        body: dict[str, Any] = {"code": code, "note": note}
        if destination is not None:
            body["destination"] = destination
        result: dict[str, Any] = await self.call(
            "POST", f"/v1/packages/{package_id}/status", json_body=body)
        return result


    # --- notifications -------------------------------------------------------------------

    async def watch(self) -> AsyncIterator[dict[str, Any]]:
        """Notices as they arrive, over a signed WebSocket (the hub's pings answered for
        you, which keeps the app online in presence). Ends after a ``revoked`` message:
        the app or the key it signed with lost its rights, and the hub closed the stream."""
        from websockets.asyncio.client import connect

        url = self._http.build_request("GET", "/v1/ws").url
        headers: dict[str, str] = {}
        headers.update(self.sign("GET", url, b"", headers))
        headers.pop("Host", None)
        ws_url = str(url).replace("http", "ws", 1)
        async with connect(ws_url, additional_headers=headers, max_size=2**20) as socket:
            async for raw in socket:
                message: dict[str, Any] = json.loads(raw)
                if message.get("type") == "error":
                    raise TrucError(401, message)
                if message.get("type") == "ping":  # the hub's heartbeat: prove we are alive
                    await socket.send(json.dumps({"type": "pong"}))
                    continue
                yield message
                if message.get("type") == "revoked":  # the hub closes it (1008): the end
                    return

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Notices as Server-Sent Events (for networks that refuse WebSockets)."""
        url = self._http.build_request("GET", "/v1/events").url
        sent: dict[str, str] = {}
        sent.update(self.sign("GET", url, b"", sent))
        sent.pop("Host", None)
        async with self._http.stream("GET", url, headers=sent, timeout=None) as response:
            if response.status_code >= 400:
                await response.aread()
                raise TrucError(response.status_code, _problem(response))
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    message = json.loads(line[6:])
                    yield message
                    if message.get("type") == "revoked":  # the hub's last word
                        return


Progress = Callable[[int], None]


async def _all_or_none(work: list[Coroutine[Any, Any, None]]) -> None:
    """Runs ``work`` concurrently; the first failure cancels the rest and is raised as is."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _size_or_zero(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read 1 MiB at a time."""
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            sha.update(block)
            size += len(block)
    return size, sha.hexdigest()


def refusal(response: httpx.Response) -> TrucError:
    """The hub's refusal, with its ``Retry-After`` (seconds) when it sent one."""
    after = response.headers.get("retry-after")
    try:
        retry_after = float(after) if after is not None else None
    except ValueError:  # an HTTP date: not sent by the hub; fall back to the backoff
        retry_after = None
    return TrucError(response.status_code, _problem(response), retry_after)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"code": "http_error", "detail": response.text[:500]}
    return body if isinstance(body, dict) else {"code": "http_error", "detail": str(body)}
