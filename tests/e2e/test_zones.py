"""Zones end to end: the routing table through the CLI (local and remote) and the
operator API, on both backends."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from api.client import TrucClient, TrucError
from tests.e2e.exchange import next_code
from tests.e2e.hubs import TRUC, RunningHub

pytestmark = pytest.mark.usefixtures("admin_key")


def remote(hub: RunningHub, *args: str) -> subprocess.CompletedProcess[str]:
    """``truc admin …`` against the running hub with the operator's key."""
    assert hub.admin_key is not None
    env = {**hub.env, "TRUC_URL": hub.url,
           "TRUC_OPERATOR_ACCESS_KEY": hub.admin_key["access_key"],
           "TRUC_OPERATOR_SECRET_KEY": hub.admin_key["secret_key"]}
    return subprocess.run([TRUC, "admin", *args], env=env, cwd=hub.cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_routing_table_through_the_cli_and_the_api(hub: RunningHub) -> None:
    local = hub.admin("zone", "set", "z97", "--url", "http://127.0.0.1:1/",
                      "--access-key", "TRUCPEER", "--secret-key", "peer-secret",
                      "--province", "Z97", "--branch", "000.00.12.Z96")
    assert (local[0]["url"], local[0]["provinces"]) == ("http://127.0.0.1:1", ["Z97"])
    listed = hub.ops("GET", "/v1/ops/zones")
    assert [z["zone"] for z in listed] == ["z97"]
    assert "peer-secret" not in json.dumps(listed)
    done = remote(hub, "zone", "set", "z97b", "--url", "https://peer.example",
                  "--access-key", "K", "--secret-key", "s", "--province", "Z97")
    assert done.returncode == 2 and "route_conflict" in done.stderr
    done = remote(hub, "zone", "set", "z97", "--url", "https://peer.example",
                  "--access-key", "K", "--code", "000.01.12.Z96", "--province", "Z97",
                  "--json")
    assert done.returncode == 0, done.stderr
    changed: list[dict[str, Any]] = json.loads(done.stdout)
    assert changed[0]["codes"] == ["000.01.12.Z96"] and changed[0]["branches"] == []
    routed = hub.admin("zone", "route", "000.01.12.Z96")
    assert (routed["zone"], routed["kind"]) == ("z97", "code")
    assert hub.admin("zone", "route", "000.02.12.Z96")["zone"] is None
    shown = remote(hub, "zone", "route", "000.00.05.Z97")
    assert "zone z97 (province Z97)" in shown.stdout, shown.stderr
    assert remote(hub, "zone", "remove", "z97", "--reason", "test").returncode == 0
    assert hub.ops("GET", "/v1/ops/zones") == []
    gone = remote(hub, "zone", "remove", "z97")
    assert gone.returncode == 2 and "unknown_zone" in gone.stderr


async def test_the_table_is_the_hubs_not_an_agencys(hub: RunningHub) -> None:
    code = next_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": "Sở"})
    added = hub.ops("POST", "/v1/ops/operators", {"name": "Quản trị sở", "role":
                                                  "agency-admin", "agency_code": code})
    auditor = hub.ops("POST", "/v1/ops/operators", {"name": "Kiểm tra", "role": "auditor"})
    async with TrucClient(hub.url, added["key"]["access_key"],
                          added["key"]["secret_key"]) as agency_admin:
        for path in ("/v1/ops/zones", f"/v1/ops/zones/route/{code}"):
            with pytest.raises(TrucError) as hidden:
                await agency_admin.call("GET", path)
            assert hidden.value.status == 404
        with pytest.raises(TrucError) as refused:
            await agency_admin.call("PUT", "/v1/ops/zones/x", json_body={
                "url": "https://p.example", "access_key": "K", "secret_key": "s",
                "provinces": ["Z95"]})
        assert refused.value.status == 403
    async with TrucClient(hub.url, auditor["key"]["access_key"],
                          auditor["key"]["secret_key"]) as reader:
        assert (await reader.call("GET", f"/v1/ops/zones/route/{code}"))["local"] is True
