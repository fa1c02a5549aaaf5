"""docs/national-axis.md, followed literally: the facade's ``sh`` blocks, in order, as one
bash script against a running hub, with the doc's placeholders (the example host, the two
apps' keys) filled in and ``cong-van.edxml`` written as the source's QLVB would have it;
then the gateway's two blocks, against two hubs (the client hub and its axis), and a
document sent through the route they set. A doc that changes without the code, or the
code without the doc, breaks this test."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.client import TrucClient
from hub.edxml.builder import build
from hub.edxml.model import Document, Organ
from tests.e2e.hubs import RunningHub, running_hub
from tests.e2e.test_docs_recipes import sh_blocks

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def axis_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub("embedded", tmp_path_factory.mktemp("axis-doc")) as hub:
        yield hub


def app_key(hub: RunningHub, code: str, name: str) -> dict[str, str]:
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": name})
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB"})
    key: dict[str, str] = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"]
    return key


@pytest.mark.timeout(600)
def test_every_command_of_national_axis_md_works_verbatim(axis_hub: RunningHub,
                                                          tmp_path: Path) -> None:
    for tool in ("curl", "jq", "openssl", "sha256sum", "base64"):
        assert shutil.which(tool), f"the doc needs {tool}"
    hub = axis_hub
    src = app_key(hub, "000.00.11.H53", "Sở Thông tin và Truyền thông")
    dst = app_key(hub, "000.00.12.H53", "Sở Tư pháp")
    (tmp_path / "cong-van.edxml").write_bytes(build(Document(
        Organ("000.00.11.H53", "Sở Thông tin và Truyền thông"),
        (Organ("000.00.12.H53", "Sở Tư pháp"),), document_id="000.00.11.H53,2026/11/29,7",
        code_number="7", code_notation="STTTT-VP", promulgation_place="Vũng Tàu",
        promulgation_date="2026-11-29", type_code="1", type_name="Công văn",
        subject="Về việc chuyển sang Truc", signer_name="Nguyễn Văn A", priority="0",
        steering_type="0", business_doc_type="0"), []))
    blocks = sh_blocks((ROOT / "docs" / "national-axis.md").read_text())
    assert len(blocks) == 5
    script = ("\n".join(blocks[:3])
              .replace("https://truc.example.gov.vn", hub.url)
              .replace("TRUCXXXXXXXXXXXXXXXX", src["access_key"])
              .replace("'source-secret-key'", shlex.quote(src["secret_key"]))
              .replace("TRUCDESTXXXXXXXXXXXX", dst["access_key"])
              .replace("'destination-secret-key'", shlex.quote(dst["secret_key"])))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert '{"status":"OK","ErrorCode":"0"}' in out  # sent
    assert '{"from":"000.00.11.H53","status":"notified"}' in out \
        or '{"from":"000.00.11.H53","status":"planned"}' in out  # listed
    assert "the same document" in out  # fetched, byte for byte
    assert '{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":"acknowledged"}' in out
    assert '{"sendStatus":"acknowledged","receiveStatus":"03"}' in out


@pytest.fixture
def axis_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHub,
                                                                           RunningHub]]:
    fast = {"zone_retry_seconds": "0.2", "zone_poll_seconds": "0.3",
            "axis_poll_seconds": "0.5"}
    with running_hub("embedded", tmp_path_factory.mktemp("gw-doc-a"), hub_name="a",
                     **fast) as a, \
            running_hub("embedded", tmp_path_factory.mktemp("gw-doc-b"), hub_name="b",
                        **fast) as b:
        yield a, b


def run(script: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.timeout(600)
def test_the_gateway_is_set_up_as_national_axis_md_says(
        axis_pair: tuple[RunningHub, RunningHub], tmp_path: Path) -> None:
    a, b = axis_pair
    account = app_key(b, "000.00.00.H53", "UBND tỉnh Bà Rịa - Vũng Tàu")  # A on the axis
    dest = app_key(b, "000.00.12.H29", "Sở Tư pháp TP.HCM")
    axis_app = app_key(a, "000.00.00.A01", "Trục liên thông văn bản quốc gia")
    source = app_key(a, "000.00.11.H53", "Sở Thông tin và Truyền thông")
    assert a.admin_key is not None and b.admin_key is not None
    blocks = sh_blocks((ROOT / "docs" / "national-axis.md").read_text())
    client_hub, axis_hub = blocks[3], blocks[4]
    held = run(axis_hub
               .replace("https://truc-axis.example.gov.vn", b.url)
               .replace("TRUCAXISOPERATORXXXX", b.admin_key["access_key"])
               .replace("'axis-operator-secret-key'", shlex.quote(b.admin_key["secret_key"]))
               .replace("TRUCCLIENTHUBXXXXXXX", account["access_key"])
               .replace(".venv/bin/", f"{VENV_BIN}/"), tmp_path)
    assert '{"zone":"brvt","protocol":"held","provinces":["H53"]}' in held
    out = run(("export HUB=https://truc.example.gov.vn\n" + client_hub)
              .replace("https://truc.example.gov.vn", a.url)
              .replace("https://truc-axis.example.gov.vn", b.url)
              .replace("TRUCOPERATORXXXXXXXX", a.admin_key["access_key"])
              .replace("'operator-secret-key'", shlex.quote(a.admin_key["secret_key"]))
              .replace("TRUCCLIENTHUBXXXXXXX", account["access_key"])
              .replace("'secret-this-hub-holds-on-the-axis'",
                       shlex.quote(account["secret_key"]))
              .replace("TRUCAXISAPPXXXXXXXXX", axis_app["access_key"])
              .replace(".venv/bin/", f"{VENV_BIN}/"), tmp_path)
    assert f'{{"zone":"quoc-gia","protocol":"axis","url":"{b.url}"}}' in out
    assert "000.00.12.H29: zone quoc-gia (default *)" in out
    assert f'{{"zone":"quoc-gia","protocol":"axis","local_key":"{axis_app["access_key"]}"}}' \
        in out
    assert '{"code":"000.00.12.H29","local":false,"zone":"quoc-gia","kind":"default",' \
        '"pattern":"*"}' in out
    asyncio.run(_goes_up(a, b, source, dest, tmp_path))


async def _goes_up(a: RunningHub, b: RunningHub, source: dict[str, str],
                   dest: dict[str, str], tmp_path: Path) -> None:
    """A document to an agency only the axis knows reaches it through the route set."""
    file = tmp_path / "len.edxml"
    file.write_bytes(build(Document(
        Organ("000.00.11.H53", "Sở Thông tin và Truyền thông"),
        (Organ("000.00.12.H29", "Sở Tư pháp TP.HCM"),),
        document_id="000.00.11.H53,2026/11/29,8", code_number="8", code_notation="STTTT-VP",
        promulgation_place="Vũng Tàu", promulgation_date="2026-11-29", type_code="1",
        type_name="Công văn", subject="Lên trục", signer_name="Nguyễn Văn A", priority="0",
        steering_type="0", business_doc_type="0"), []))
    async with TrucClient(a.url, source["access_key"], source["secret_key"]) as src:
        await src.send(["000.00.12.H29"], "Lên trục", file, data_type="edxml")
    async with TrucClient(b.url, dest["access_key"], dest["secret_key"]) as there:
        for _ in range(300):
            titles = [i["title"] for i in await there.inbox()]
            if "Lên trục" in titles:
                break
            await asyncio.sleep(0.2)
        assert "Lên trục" in titles
