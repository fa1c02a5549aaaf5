"""The client's own rules, without a hub: how long it waits for a seal, and which calls
it sends again when a connection is lost."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from api import client as client_module
from api.client import SEAL_MIB_PER_S, TrucClient, TrucError, seal_timeout

GiB = 2**30


def test_small_packages_seal_within_the_default_wait() -> None:
    assert seal_timeout(10 * 1024, 30) == 30


def test_a_large_package_gets_time_for_the_hub_to_read_it_back() -> None:
    waited = seal_timeout(GiB, 30)
    assert waited == GiB / (SEAL_MIB_PER_S * 2**20) == 256
    assert waited > 40, "a 1 GiB seal took 40 s on a loaded Kafka + Cassandra hub"


def flaky(failure: type[httpx.TransportError], calls: list[str]) -> httpx.MockTransport:
    """Fails the first request with ``failure``, then answers 200."""
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise failure("lost", request=request)
        return httpx.Response(200, json={"ok": True})
    return httpx.MockTransport(answer)


def client_over(transport: httpx.MockTransport) -> TrucClient:
    hub = TrucClient("http://hub.test", "AK", "SK")
    hub._http = httpx.AsyncClient(base_url=hub.url, transport=transport)
    return hub


async def test_a_safe_call_is_sent_again_when_the_connection_drops_unanswered() -> None:
    calls: list[str] = []
    hub = client_over(flaky(httpx.RemoteProtocolError, calls))
    assert await hub.call("GET", "/v1/inbox") == {"ok": True}
    assert calls == ["GET", "GET"]


async def test_a_post_that_may_have_been_handled_is_not_sent_again() -> None:
    calls: list[str] = []
    hub = client_over(flaky(httpx.RemoteProtocolError, calls))
    with pytest.raises(httpx.RemoteProtocolError):
        await hub.call("POST", "/v1/packages/p/status", json_body={"code": "03"})
    assert calls == ["POST"]


async def test_an_ack_whose_answer_was_lost_is_sent_again() -> None:
    """An ack is idempotent (a second one with the same digest answers 200)."""
    calls: list[str] = []
    hub = client_over(flaky(httpx.RemoteProtocolError, calls))
    assert await hub.call("POST", "/v1/packages/p/ack", json_body={"sha256": "0" * 64}) \
        == {"ok": True}
    assert calls == ["POST", "POST"]


async def test_a_refused_connection_is_tried_again_for_any_call() -> None:
    calls: list[str] = []
    hub = client_over(flaky(httpx.ConnectError, calls))
    assert await hub.call("POST", "/v1/packages/p/ack", json_body={"sha256": "0" * 64}) \
        == {"ok": True}
    assert calls == ["POST", "POST"]


def unavailable_then_ok(calls: list[tuple[str, str]], failures: int = 1,
                        retry_after: str | None = "0") -> httpx.MockTransport:
    """Answers ``failures`` times 503 (with ``Retry-After``), then 200."""
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if len(calls) <= failures:
            headers = {} if retry_after is None else {"retry-after": retry_after}
            return httpx.Response(503, headers=headers, json={
                "code": "engine_unavailable", "retriable": True, "engine": "cassandra"})
        return httpx.Response(200, json={"ok": True})
    return httpx.MockTransport(answer)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's pauses, recorded instead of slept."""
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(client_module.asyncio, "sleep", sleep)
    return pauses


@pytest.mark.parametrize("method,path,headers", [
    ("POST", "/v1/packages/p/ack", {}),
    ("POST", "/v1/packages/p/seal", {}),
    ("POST", "/v1/packages", {"idempotency-key": "k1"}),
    ("GET", "/v1/inbox", {}),
    ("PUT", "/v1/packages/p/chunks/0", {}),
])
async def test_a_503_is_retried_after_retry_after_for_calls_safe_to_repeat(
        method: str, path: str, headers: dict[str, str], slept: list[float]) -> None:
    calls: list[tuple[str, str]] = []
    hub = client_over(unavailable_then_ok(calls, failures=2, retry_after="3"))
    assert await hub.call(method, path, json_body={}, headers=headers) == {"ok": True}
    assert calls == [(method, path)] * 3
    assert slept == [3.0, 3.0], "the hub's Retry-After is honoured"


async def test_a_long_retry_after_is_capped(slept: list[float]) -> None:
    hub = client_over(unavailable_then_ok([], retry_after="3600"))
    await hub.call("GET", "/v1/inbox")
    assert slept == [client_module.MAX_RETRY_AFTER]


async def test_a_503_without_retry_after_backs_off(slept: list[float]) -> None:
    hub = client_over(unavailable_then_ok([], failures=3, retry_after=None))
    await hub.call("GET", "/v1/inbox")
    assert slept == [0.2, 0.4, 0.8]


async def test_a_503_to_a_call_that_counts_is_not_sent_again(slept: list[float]) -> None:
    calls: list[tuple[str, str]] = []
    hub = client_over(unavailable_then_ok(calls))
    with pytest.raises(TrucError) as refused:
        await hub.call("POST", "/v1/packages/p/status", json_body={"code": "03"})
    assert (refused.value.status, refused.value.retry_after) == (503, 0.0)
    assert len(calls) == 1 and slept == []


async def test_retries_give_up_after_the_client_s_limit(slept: list[float]) -> None:
    calls: list[tuple[str, str]] = []
    hub = client_over(unavailable_then_ok(calls, failures=100))
    hub.retries = 2
    with pytest.raises(TrucError) as refused:
        await hub.call("POST", "/v1/packages/p/ack", json_body={"sha256": "0" * 64})
    assert refused.value.code == "engine_unavailable" and len(calls) == 3


async def test_a_500_is_not_retried(slept: list[float]) -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(500, json={"code": "internal_error", "retriable": False})

    hub = client_over(httpx.MockTransport(answer))
    with pytest.raises(TrucError):
        await hub.call("GET", "/v1/inbox")
    assert calls == ["GET"] and slept == []


async def test_a_fetch_refused_503_before_its_first_byte_is_retried(
        tmp_path: Path, slept: list[float]) -> None:
    calls: list[tuple[str, str]] = []
    content = b"hello"

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if len(calls) == 1:
            return httpx.Response(503, headers={"retry-after": "2"},
                                  json={"code": "engine_unavailable", "retriable": True})
        return httpx.Response(200, content=content)

    hub = client_over(httpx.MockTransport(answer))
    digest = await hub.fetch("p", tmp_path / "out")
    assert digest == hashlib.sha256(content).hexdigest()
    assert (tmp_path / "out").read_bytes() == content
    assert len(calls) == 2 and slept == [2.0]
