"""The client's own rules, without a hub: how long it waits for a seal, and which calls
it sends again when a connection is lost."""

from __future__ import annotations

import httpx
import pytest

from api.client import SEAL_MIB_PER_S, TrucClient, seal_timeout

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
        await hub.call("POST", "/v1/packages/p/ack", json_body={"sha256": "0" * 64})
    assert calls == ["POST"]


async def test_a_refused_connection_is_tried_again_for_any_call() -> None:
    calls: list[str] = []
    hub = client_over(flaky(httpx.ConnectError, calls))
    assert await hub.call("POST", "/v1/packages/p/ack", json_body={"sha256": "0" * 64}) \
        == {"ok": True}
    assert calls == ["POST", "POST"]
