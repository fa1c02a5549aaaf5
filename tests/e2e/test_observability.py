"""``/metrics`` scraped from a running hub after an exchange, and its JSON log lines —
on both backends (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.console_helpers import polled, sample, scrape
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub

SPACE = "/v1/packages/{package_id}/space"


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "observe", log_format="json") as running:
        yield running


@pytest.fixture(scope="module")
async def exchanged(hub: RunningHub, tmp_path_factory: pytest.TempPathFactory
                    ) -> dict[str, Any]:
    """One package sent, fetched and acknowledged: the hub then shreds it."""
    source, destination = agency_with_app(hub), agency_with_app(hub)
    doc = tmp_path_factory.mktemp("doc") / "cv.txt"
    doc.write_bytes("Công văn về việc kiểm tra".encode() * 50)
    async with client(hub, source) as src, client(hub, destination) as dest:
        sealed = await src.send([destination["code"]], "Công văn 12", doc)
        package_id = sealed["package_id"]
        digest = await dest.fetch(package_id, doc.with_suffix(".got"))
        await dest.ack(package_id, digest)
    return {"package_id": package_id, "source": source, "destination": destination,
            "size": doc.stat().st_size}


def test_metrics_count_requests_by_route_template_and_status(
        hub: RunningHub, exchanged: dict[str, Any]) -> None:
    found = scrape(hub)
    # a small package goes in one call (``truc send``, the client): issue 13
    assert sample(found, "truc_requests_total", route="/v1/packages/send", method="POST",
                  status="200") >= 1
    assert sample(found, "truc_requests_total", route="/v1/packages/{package_id}/ack",
                  status="200") >= 1
    assert sample(found, "truc_request_seconds_count",
                  route="/v1/packages/{package_id}/ack") >= 1
    assert not any(exchanged["package_id"] in dict(labels).get("route", "")
                   for _, labels in found), "routes are templates, never raw paths"
    httpx.get(f"{hub.url}/no/such/thing", timeout=10)
    assert sample(scrape(hub), "truc_requests_total", route="<unmatched>", status="404") >= 1


def test_metrics_show_the_exchange_applied_by_every_processor(
        hub: RunningHub, exchanged: dict[str, Any]) -> None:
    def settled() -> bool:
        found = scrape(hub)
        return sample(found, "truc_packages", state="completed") >= 1 and \
            sample(found, "truc_processor_lag_events") == 0
    polled(settled)
    found = scrape(hub)
    appended = sample(found, "truc_events_appended_total", topic="packages")
    assert appended >= 6  # requested, space, chunk, sealed, planned, notified, fetched, ack…
    for processor in ("packages", "history", "statistics"):
        assert sample(found, "truc_events_applied_total", processor=processor,
                      topic="packages") == appended, processor
    assert sample(found, "truc_deliveries", state="acknowledged") >= 1
    assert sample(found, "truc_agencies") >= 2
    assert sample(found, "truc_dead_letters") == 0
    assert ("truc_content_bytes", ()) in found


def test_metrics_count_agencies_online_while_an_app_listens(
        hub: RunningHub, exchanged: dict[str, Any]) -> None:
    async def listen() -> None:
        async with client(hub, exchanged["destination"]) as dest:
            stream = dest.watch()
            await anext(stream)  # hello: the agency is online

            def online() -> bool:
                found = scrape(hub)
                return sample(found, "truc_agencies_online") >= 1 and \
                    sample(found, "truc_connections") >= 1
            polled(online)

    import asyncio
    asyncio.run(listen())


def test_a_request_id_comes_back_and_is_in_the_json_log(
        hub: RunningHub, exchanged: dict[str, Any]) -> None:
    answer = httpx.get(f"{hub.url}/healthz", headers={"x-request-id": "req-16.test"},
                       timeout=10)
    assert answer.headers["x-request-id"] == "req-16.test"
    fresh = httpx.get(f"{hub.url}/healthz", timeout=10).headers["x-request-id"]
    assert len(fresh) == 32 and fresh != "req-16.test"
    lines = _json_lines(hub.logs)
    mine = [line for line in lines if line.get("request_id") == "req-16.test"]
    assert mine and mine[0]["route"] == "/healthz" and mine[0]["status"] == 200
    package_id = exchanged["package_id"]
    acked = [line for line in lines if line.get("route") == "/v1/packages/{package_id}/ack"
             and line.get("package_id") == package_id]
    assert acked and acked[0]["agency"] == exchanged["destination"]["code"]
    assert acked[0]["app"] == exchanged["destination"]["app_id"]


def test_each_domain_event_handled_is_one_json_line(
        hub: RunningHub, exchanged: dict[str, Any]) -> None:
    """On the embedded hub the processors run in the API process; distributed, in the
    Faust worker, which logs in the same format."""
    log = hub.logs if hub.backend == "embedded" else hub.cwd / "worker.log"
    package_id = exchanged["package_id"]

    def logged() -> list[str]:
        return [line["event"] for line in _json_lines(log)
                if line.get("logger") == "truc.events" and line.get("package_id") == package_id]
    polled(lambda: "DeliveryAcknowledged" in logged())
    events = logged()
    assert events.count("PackageSealed") == 1, "one line per event, not one per projection"
    mine = {line["event"]: line for line in _json_lines(log)
            if line.get("logger") == "truc.events" and line.get("package_id") == package_id}
    assert mine["PackageRequested"]["agency"] == exchanged["source"]["code"]
    assert mine["PackageRequested"]["app"] == exchanged["source"]["app_id"]
    assert mine["DeliveryPlanned"]["agency"] == exchanged["destination"]["code"]
    assert mine["DeliveryAcknowledged"]["app"] == exchanged["destination"]["app_id"]


def _json_lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
    return found
