"""Many machines acting as one (Điều 5.6): two API nodes on the same Kafka and Cassandra."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from api.client import TrucClient, TrucError
from tests.conftest import Engines
from tests.e2e.exchange import agency_with_app, first, next_code
from tests.e2e.hubs import running_hub

pytestmark = pytest.mark.engines


async def test_notices_and_revocations_cross_nodes(engines: Engines, tmp_path: Path) -> None:
    with running_hub("distributed", tmp_path, engines) as hub:
        other = hub.start_node()
        source, dest = agency_with_app(hub), agency_with_app(hub)
        doc = tmp_path / "doc.bin"
        doc.write_bytes(os.urandom(10_000))
        async with TrucClient(hub.url, source["access_key"], source["secret_key"]) as src, \
                TrucClient(other, dest["access_key"], dest["secret_key"]) as dst:
            notices = dst.watch()
            hello = await first(notices, "hello")
            assert hello["node"].startswith("node-"), "the destination is on the second node"
            sealed = await src.send([dest["code"]], "Công văn liên thông", doc)
            told = await first(notices, "package.available", sealed["package_id"])
            assert told["title"] == "Công văn liên thông"
            await dst.whoami()
            hub.ops("POST", f"/v1/ops/apps/{dest['app_id']}/revoke", {"reason": "form 06"})
            async with asyncio.timeout(5):
                while True:
                    try:
                        await dst.whoami()
                    except TrucError as refused:
                        assert refused.code == "key_revoked"
                        break
                    await asyncio.sleep(0.05)


def test_an_operator_behind_a_balancer_adds_an_agency_then_its_app_on_the_other_node(
        engines: Engines, tmp_path: Path) -> None:
    """An admin call is decided once the node's registry view has folded everything
    recorded so far, wherever: an agency added on one node has its app added on the
    other at once (it was 404 unknown_agency while that node lagged: the cluster bench's
    provisioning through HAProxy)."""
    with running_hub("distributed", tmp_path, engines) as hub:
        nodes = [hub.url, hub.start_node()]
        for round_ in range(6):
            here, there = nodes[round_ % 2], nodes[1 - round_ % 2]
            code = next_code()
            hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": f"Sở {code}"}, here)
            app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB"},
                          there)
            approved = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                               {"operations": []}, here)
            assert approved["app_id"] == app["app_id"] and approved["key"]["access_key"]
