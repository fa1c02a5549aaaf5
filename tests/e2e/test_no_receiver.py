"""A destination agency with no receiving app yet (Điều 5.9), end to end on both backends:
the source is told at once — `truc send` warns, `truc status` and its JSON name the
delivery and until when the hub waits — and the package waits instead of being destroyed;
once the destination's app is approved, it fetches the package. With a short offline wait
set by the source and still no app, the delivery expires as ``no_receiver``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.exchange import next_code
from tests.e2e.hubs import TRUC, RunningHub
from tests.e2e.test_access import approved_app


def source_env(hub: RunningHub, key: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    return {**env, "TRUC_URL": hub.url, "TRUC_ACCESS_KEY": key["access_key"],
            "TRUC_SECRET_KEY": key["secret_key"]}


def truc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([TRUC, *args], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def status(env: dict[str, str], package_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(truc(env, "status", package_id, "--json").stdout)
    return answer


@pytest.mark.timeout(900)  # a dozen `truc` processes: minutes on a loaded box
def test_the_source_is_told_and_the_package_waits_for_a_receiver(
        hub: RunningHub, tmp_path: Path) -> None:
    source = source_env(hub, approved_app(hub))
    dest = next_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": dest, "name": "Sở chưa có ứng dụng"})
    document = tmp_path / "cong-van.pdf"
    document.write_bytes(os.urandom(3000))

    sent = truc(source, "send", "--to", dest, "--title", "Công văn số 12", "--type", "pdf",
                str(document))
    package_id, state = sent.stdout.split()
    assert state == "sealed"
    assert f"warning [no_receiver]: {dest} has no receiving app yet" in sent.stderr
    assert "the hub keeps the delivery until" in sent.stderr

    time.sleep(3)  # the watchdog ticks every second here: it used to expire it by now
    view = status(source, package_id)
    (delivery,) = view["deliveries"]
    assert delivery["state"] in ("planned", "notified"), delivery
    assert delivery["no_receiver_until"] is not None
    assert [w["code"] for w in view["warnings"]] == ["no_receiver"]
    assert view["warnings"][0]["destination"] == dest
    shown = truc(source, "status", package_id)
    assert "no receiving app yet" in shown.stderr

    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": dest, "name": "QLVB"})
    key = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"]
    destination = source_env(hub, key)
    fetched = tmp_path / "fetched.pdf"
    truc(destination, "fetch", package_id, "-o", str(fetched))
    assert fetched.read_bytes() == document.read_bytes()
    truc(destination, "ack", package_id, "--file", str(fetched))
    done = status(source, package_id)
    assert done["warnings"] == [] and done["deliveries"][0]["state"] == "acknowledged"


def test_with_a_short_offline_wait_and_no_receiver_the_delivery_expires(
        hub: RunningHub, tmp_path: Path) -> None:
    source = source_env(hub, approved_app(hub))
    dest = next_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": dest, "name": "Sở chưa có ứng dụng"})
    document = tmp_path / "doc.bin"
    document.write_bytes(b"x" * 100)
    sent = truc(source, "send", "--to", dest, "--title", "t", "--offline-wait", "2",
                str(document), "--json")
    package_id = json.loads(sent.stdout)["package_id"]
    assert "warning [no_receiver]" in sent.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (delivery,) = status(source, package_id)["deliveries"]
        if delivery["state"] == "expired":
            break
        time.sleep(0.5)
    assert (delivery["state"], delivery["reason"]) == ("expired", "no_receiver")
