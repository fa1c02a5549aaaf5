"""docs/edxml.md followed literally: every command of its *Examples* is read from the
page's ``sh`` blocks at test time and run against a real embedded hub with the CLI and the
real curl, as a reader would (the placeholders ``$AK``/``$SK``, ``$DEST_AK``/``$DEST_SK``
and ``PACKAGE_ID`` filled in, the port a free one). A page that changes without the code,
or the code without the page, breaks this test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.edxml.builder import build
from hub.edxml.model import Document, Organ, StatusPackage
from hub.edxml.parse import parse
from tests.e2e.hubs import RunningHub, running_hub
from tests.e2e.test_docs_recipes import section, sh_blocks

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SOURCE, DEST = "000.00.11.H53", "000.00.12.H53"


class Runner:
    """Runs the page's lines one by one in ``cwd``; ``export`` lines set variables."""

    def __init__(self, hub: RunningHub, keys: dict[str, str]) -> None:
        self.hub = hub
        self.vars = dict(keys)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
        self.outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    def fill(self, line: str) -> str:
        line = line.replace("http://127.0.0.1:8080", self.hub.url)
        line = line.replace(".venv/bin/", f"{VENV_BIN}/")
        if "PACKAGE_ID" in self.vars:
            line = line.replace("PACKAGE_ID", self.vars["PACKAGE_ID"])
        return re.sub(r"\$(\w+)", lambda m: self.vars[m[1]], line)

    def run(self, line: str) -> None:
        line = self.fill(line)
        if line.startswith("export "):
            for assignment in line.removeprefix("export ").split():
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return
        done = subprocess.run(["bash", "-c", line], env=self.env, cwd=self.hub.cwd,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        self.outputs.append((line, done))
        if " send " in line and "PACKAGE_ID" not in self.vars:
            self.vars["PACKAGE_ID"] = done.stdout.split()[0]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_hub("embedded", tmp_path_factory.mktemp("edxml-docs")) as running:
        yield running


def test_the_edxml_page_examples_run_as_written(hub: RunningHub) -> None:
    keys = {}
    for code, prefix in ((SOURCE, ""), (DEST, "DEST_")):
        hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": f"Sở {code}"})
        app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB"})
        key = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"]
        keys[f"{prefix}AK"], keys[f"{prefix}SK"] = key["access_key"], key["secret_key"]
    pdf = os.urandom(5000)
    (hub.cwd / "cong-van.pdf").write_bytes(pdf)
    (hub.cwd / "cong-van-13.edxml").write_bytes(build(Document(
        Organ(SOURCE, "Sở Thông tin và Truyền thông"), (Organ(DEST),), code_number="13",
        code_notation="STTTT-VP", promulgation_place="Vũng Tàu",
        promulgation_date="2026-11-29", type_code="1", type_name="Công văn",
        subject="Công văn số 13")))
    hub.ops("GET", "/v1/ops/agencies")  # makes the hub's first admin
    assert hub.admin_key is not None
    keys["OAK"], keys["OSK"] = hub.admin_key["access_key"], hub.admin_key["secret_key"]
    page = (ROOT / "docs" / "edxml.md").read_text(encoding="utf-8")
    runner = Runner(hub, keys)
    lines = [line.strip() for block in sh_blocks(section(page, "## Examples"))
             for line in block.splitlines() if line.strip()]
    assert len(lines) == 12
    for line in lines:
        runner.run(line)
    outputs = [done.stdout for _, done in runner.outputs]
    assert outputs[0].split()[1] == "sealed"
    shown, curled = json.loads(outputs[1]), json.loads(outputs[2])
    assert shown == curled
    assert shown["document"]["subject"] == "Về việc thử nghiệm trục"
    assert shown["document"]["code_notation"] == "STTTT-VP"
    assert shown["document"]["attachments"][0]["name"] == "cong-van.pdf"
    assert outputs[3].split()[1] == "sealed"  # sent to the document's To: no --to
    assert (hub.cwd / "received.pdf").read_bytes() == pdf
    assert (hub.cwd / "received-too.pdf").read_bytes() == pdf
    policy = json.loads(outputs[-1])
    assert (policy["code"], policy["signing"]) == (SOURCE, "required")
    status = parse(outputs[-2].encode())
    assert isinstance(status, StatusPackage)
    assert (status.status_code, status.sender.organ_id) == ("03", DEST)
    assert status.response_for.code == "12/STTTT-VP"
