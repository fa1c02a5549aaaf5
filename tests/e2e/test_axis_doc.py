"""docs/national-axis.md, followed literally: every ``sh`` block, in order, as one bash
script against a running hub, with the doc's placeholders (the example host, the two
apps' keys) filled in and ``cong-van.edxml`` written as the source's QLVB would have it.
A doc that changes without the code, or the code without the doc, breaks this test."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.edxml.builder import build
from hub.edxml.model import Document, Organ
from tests.e2e.hubs import RunningHub, running_hub
from tests.e2e.test_docs_recipes import sh_blocks

ROOT = Path(__file__).resolve().parents[2]


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
    assert len(blocks) == 3
    script = ("\n".join(blocks)
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
