"""A space the source gives up on is rejected and what it uploaded destroyed, on both
backends: spaces live 6 s here, with no grace, and the watchdog looks every 0.5 s."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator

import pytest

from api.client import TrucError
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client, raw_chunks, raw_key
from tests.e2e.hubs import RunningHub


@pytest.fixture(scope="module", params=BACKENDS)
def short_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "spaces", space_ttl_minutes="0.1",
                     space_sweep_grace_minutes="0", watchdog_seconds="0.5") as running:
        yield running


async def test_an_abandoned_space_is_rejected_and_its_chunks_destroyed(
        short_hub: RunningHub) -> None:
    source, dest = agency_with_app(short_hub), agency_with_app(short_hub)
    half = b"x" * 1024 * 1024
    async with client(short_hub, source) as src:
        space = await src.call("POST", "/v1/packages", json_body={
            "recipients": [dest["code"]], "title": "bỏ dở", "data_type": "pdf",
            "size": 2 * len(half), "sha256": hashlib.sha256(half * 2).hexdigest()})
        package_id = space["package_id"]
        await src.request("PUT", f"/v1/packages/{package_id}/chunks/0", content=half,
                          headers={"x-chunk-sha256": hashlib.sha256(half).hexdigest()})
        assert len(raw_chunks(short_hub, package_id)) == 1, "the upload really stored a chunk"
        view = await src.package(package_id)
        deadline = time.monotonic() + 30
        while (view["state"] != "rejected" or raw_chunks(short_hub, package_id)) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            view = await src.package(package_id)
        assert view["state"] == "rejected"
        assert view["rejection"].startswith("space_expired:")
        assert raw_chunks(short_hub, package_id) == [], "nothing uploaded is kept"
        assert raw_key(short_hub, package_id) is None
        with pytest.raises(TrucError) as closed:
            await src.call("POST", f"/v1/packages/{package_id}/seal", json_body={})
        assert (closed.value.status, closed.value.code) == (422, "package_rejected")
