"""Zones end to end: the routing table through the CLI (local and remote) and the
operator API, on both backends."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

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
