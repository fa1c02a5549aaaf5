"""The status an edXML status package reports on the document it answers is recorded
with the package's seal (issue 14): a hub killed right after the seal, before anything
applied it, shows the status once it is back — once, and a replay equals the live rows.

Distributed: the worker (which applies it) is killed once the status package is
uploaded, the package sealed (the API node answers 503 ``processor_lagging``: recorded,
not applied), then the API node is killed too, and the hub started again. Embedded: the
processors run inside the API process, so the status package is sealed and the process
killed at once after its answer (the in-process cut right after the seal batch is in
``tests/unit/test_follow_ups.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucClient, TrucError
from hub.edxml.builder import build_status
from hub.edxml.model import Organ, ResponseFor, StatusPackage
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub
from tests.e2e.test_edxml import document, statuses_of, written


@pytest.fixture(scope="module", params=BACKENDS)
def crashing_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "edxml-follow-ups",
                     read_your_writes_seconds="3") as running:
        yield running


def kill(hub: RunningHub, proc: Any) -> None:
    proc.kill()
    proc.wait(timeout=30)
    hub.procs.remove(proc)


async def settled_statuses(app: TrucClient, package_id: str, code: str) -> list[str]:
    """The delivery's statuses once one shows (bounded), and again a while later: a
    second copy of the status would show by then."""
    for _ in range(300):
        if await statuses_of(app, package_id, code):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    return await statuses_of(app, package_id, code)


async def test_a_status_package_sealed_just_before_a_crash_reports_its_status_once(
        crashing_hub: RunningHub, tmp_path: Path) -> None:
    hub = crashing_hub
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(source["code"], dest["code"])
    answered = ResponseFor(source["code"], f"{doc.code_number}/{doc.code_notation}",
                           doc.promulgation_date, doc.document_id)
    status = tmp_path / "status-03.edxml"
    status.write_bytes(build_status(StatusPackage(
        Organ(dest["code"]), answered, "03", "Đã vào sổ", "2026-11-29 10:00:00")))
    async with client(hub, source) as src:
        sent = await src.send([], "Công văn", written(tmp_path, doc, [], "d.edxml"),
                              data_type="edxml")
    distributed = hub.backend == "distributed"

    def kill_the_worker() -> None:  # requested and uploaded; nothing applies the seal now
        if distributed:
            kill(hub, hub.procs[0])

    async with TrucClient(hub.url, dest["access_key"], dest["secret_key"], retries=0,
                          one_call_bytes=0) as dst:
        try:
            await dst.send([], "Trạng thái 03", status, data_type="edxml",
                           sealing=kill_the_worker)
        except TrucError as lagging:  # sealed, but nothing applied it
            assert distributed and (lagging.status, lagging.code) == (503, "processor_lagging")
    hub.stop(kill=True)
    hub.start()
    async with client(hub, source) as src:
        shown = await settled_statuses(src, sent["package_id"], dest["code"])
    assert shown == ["03"]
    assert hub.replay("history")["equal"]
    assert hub.replay("statistics")["equal"]
