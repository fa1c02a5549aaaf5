"""`truc send` resumes an interrupted send by default (no --idempotency-key needed), and
`truc report-status ID 3` is read as 03: the real CLI against a real embedded hub."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import send_state
from api.client import TrucClient
from tests.e2e.hubs import TRUC, RunningHub, running_hub
from tests.e2e.test_access import approved_app

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def resume_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub("embedded", tmp_path_factory.mktemp("resume-hub")) as hub:
        yield hub


def cli_env(hub: RunningHub, key: dict[str, Any], cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    return {**env, "TRUC_URL": hub.url, "TRUC_ACCESS_KEY": key["access_key"],
            "TRUC_SECRET_KEY": key["secret_key"], "XDG_CACHE_HOME": str(cache)}


def truc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([TRUC, *args], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_an_interrupted_send_resumes_by_default(resume_hub: RunningHub, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source, dest = approved_app(resume_hub), approved_app(resume_hub)
    cache = tmp_path / "cache"
    env = cli_env(resume_hub, source, cache)
    document = tmp_path / "ho-so.pdf"
    document.write_bytes(os.urandom(3 * MiB + 123))
    args = ("send", "--to", dest["code"], "--title", "Hồ sơ", "--type", "pdf",
            str(document), "--json")

    # The first try: the CLI's key kept, the space granted, one chunk of three uploaded,
    # then the machine lost (what `truc send` leaves behind when it is killed mid-upload).
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    this_send = send_state.identity(document, [dest["code"]], resume_hub.url,
                                    source["access_key"], title="Hồ sơ", type="pdf",
                                    priority="normal")
    key = send_state.key_for(this_send)
    first = asyncio.run(interrupted_upload(resume_hub, source, dest["code"], document, key))
    assert json.loads((cache / "truc" / "sends.json").read_text())[this_send]["key"] == key

    sealed = json.loads(truc(env, *args).stdout)
    assert sealed["package_id"] == first, "the same package, resumed, not a new one"
    assert sealed["state"] == "sealed"
    assert sealed["sha256"] == hashlib.sha256(document.read_bytes()).hexdigest()
    assert this_send not in json.loads((cache / "truc" / "sends.json").read_text())

    again = json.loads(truc(env, *args).stdout)
    assert again["package_id"] != first, "once sent, the same command sends anew"


async def interrupted_upload(hub: RunningHub, source: dict[str, Any], code: str,
                             document: Path, key: str) -> str:
    data = document.read_bytes()
    async with TrucClient(hub.url, source["access_key"], source["secret_key"]) as app:
        space = await app.call("POST", "/v1/packages", headers={"idempotency-key": key},
                               json_body={"recipients": [code], "title": "Hồ sơ",
                                          "priority": "normal", "data_type": "pdf",
                                          "size": len(data),
                                          "sha256": hashlib.sha256(data).hexdigest()})
        chunk = data[:space["chunk_size"]]
        await app.request("PUT", f"/v1/packages/{space['package_id']}/chunks/0",
                          content=chunk,
                          headers={"x-chunk-sha256": hashlib.sha256(chunk).hexdigest(),
                                   "content-type": "application/octet-stream"})
        now = await app.call("GET", f"/v1/packages/{space['package_id']}/space")
        assert now["missing"] == [1, 2, 3]
        return str(space["package_id"])


def test_report_status_reads_3_as_03(resume_hub: RunningHub, tmp_path: Path) -> None:
    source, dest = approved_app(resume_hub), approved_app(resume_hub)
    document = tmp_path / "cv.pdf"
    document.write_bytes(b"cong van")
    sent = truc(cli_env(resume_hub, source, tmp_path / "c1"), "send", "--to", dest["code"],
                "--title", "Công văn", str(document), "--json")
    package_id = json.loads(sent.stdout)["package_id"]
    view = json.loads(truc(cli_env(resume_hub, dest, tmp_path / "c2"), "report-status",
                           package_id, "3", "--json").stdout)
    assert [s["code"] for s in view["deliveries"][0]["statuses"]] == ["03"]


async def test_the_client_says_when_it_seals(resume_hub: RunningHub, tmp_path: Path) -> None:
    """The CLI's bar reads "sealing" from this call on, instead of sitting at 100%."""
    from rich import progress as bars
    from rich.console import Console

    from api.exchange_cli import Bar

    source, dest = approved_app(resume_hub), approved_app(resume_hub)
    document = tmp_path / "big.bin"
    document.write_bytes(os.urandom(2 * MiB))
    seen: list[str] = []
    async with TrucClient(resume_hub.url, source["access_key"], source["secret_key"]) as app:
        sealed = await app.send([dest["code"]], "t", document,
                                progress=lambda size: seen.append(f"sent {size}"),
                                sealing=lambda: seen.append("sealing"))
    assert sealed["state"] == "sealed"
    assert seen == [f"sent {MiB}", f"sent {MiB}", "sealing"]
    with bars.Progress(console=Console(file=open(os.devnull, "w"))) as shown:
        bar = Bar(shown, shown.add_task("sending", total=10))
        bar(10)
        bar.sealing()
        assert shown.tasks[0].description.startswith("sealing")
