"""Issue 10's critical finding: one undecodable ``PackageSealed`` in the log halted
package processing for every agency, across restarts (every later send: 503
``processor_lagging``; ``/healthz`` still "ok"). Now each processor sets it aside as a
dead letter and goes on: sends keep working, and operators see what was set aside."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from hub.topics import PACKAGES
from infra.avro import default_codec
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub
from tests.e2e.poison import inject, overflowing_seal


@pytest.fixture(scope="module", params=BACKENDS)
def poisoned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> RunningHub:
    with backend_hub(request, tmp_path_factory, "poison") as running:
        yield running  # type: ignore[misc]


def test_the_poison_is_what_the_issue_found() -> None:
    with pytest.raises(ValueError, match=r"out of range|Overflow"):
        default_codec().decode(overflowing_seal(str(uuid.uuid4())))


async def test_a_hub_with_a_poison_event_in_its_log_keeps_processing_sends(
        poisoned: RunningHub, tmp_path: Path) -> None:
    hub = poisoned
    source, destination = agency_with_app(hub), agency_with_app(hub)
    victim = str(uuid.uuid4())
    await inject(hub, victim, overflowing_seal(victim))
    doc = tmp_path / "cv.txt"
    doc.write_bytes("Công văn gửi sau sự cố".encode() * 50)
    async with client(hub, source) as src, client(hub, destination) as dest:
        for i in range(2):  # the package processor applies each send past the poison
            sent = await src.send([destination["code"]], f"Công văn {i}", doc)
            assert sent["state"] == "sealed"
        inbox = await dest.inbox()
    assert len(inbox) == 2
    letters = await wait_letters(hub, {"packages", "shredder", "webhooks"})
    ours = [d for d in letters if d["key"] == victim]
    assert {d["event_type"] for d in ours} == {"PackageSealed"}
    assert all(d["error_type"] == "Undecodable" for d in ours)
    health = (await asyncio.to_thread(httpx.get, f"{hub.url}/healthz", timeout=10)).json()
    assert health["status"] == "ok", "the hub serves: a dead letter is for an operator"
    assert health["dead_letters"]["count"] == len(letters)
    assert health["dead_letters"]["processors"]["packages"] == 1
    cli = await asyncio.to_thread(hub.truc, "admin", "dead-letters", "--json")
    listed = json.loads(cli.stdout)
    assert listed["count"] == len(letters)
    assert {d["processor"] for d in listed["dead_letters"]} >= {"packages"}


async def wait_letters(hub: RunningHub, processors: set[str]) -> list[dict[str, object]]:
    """The dead letters once every one of ``processors`` has set the poison aside."""
    async with asyncio.timeout(60):
        while True:
            found = await asyncio.to_thread(hub.ops, "GET", "/v1/ops/dead-letters")
            letters: list[dict[str, object]] = found["dead_letters"]
            if processors <= {str(d["processor"]) for d in letters if d["topic"] == PACKAGES}:
                return letters
            await asyncio.sleep(0.3)
