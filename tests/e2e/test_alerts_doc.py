"""docs/alerts.md, followed literally: every ``sh`` block, in order, as one bash script
against a running hub, with the doc's placeholders (the example host, the operator's key)
filled in as a reader would. A doc that changes without the code, or the code without
the doc, breaks this test."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hubs import RunningHub, running_hub
from tests.e2e.test_docs_recipes import sh_blocks

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def alerts_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub("embedded", tmp_path_factory.mktemp("alerts-doc")) as hub:
        yield hub


@pytest.mark.timeout(600)
def test_every_command_of_alerts_md_works_verbatim(alerts_hub: RunningHub,
                                                   tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"the doc needs {tool}"
    hub = alerts_hub
    hub.ops("POST", "/v1/ops/agencies", {"code": "000.00.11.H53", "name": "Sở TT&TT"})
    assert hub.admin_key is not None
    blocks = sh_blocks((ROOT / "docs" / "alerts.md").read_text())
    assert len(blocks) == 4
    script = ("\n".join(blocks)
              .replace("https://truc.example.gov.vn", hub.url)
              .replace("TRUCOPERATORXXXXXXXX", hub.admin_key["access_key"])
              .replace("'operator-secret-key'", shlex.quote(hub.admin_key["secret_key"]))
              .replace(".venv/bin/", f"{VENV_BIN}/"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert '"unfetched_after_seconds": 14400' in out  # the CLI's 4 hours
    assert '"it@stttt.gov.vn"' in out and "true" in out.split()  # the PUT's answer
    policy = hub.ops("GET", "/v1/ops/agencies/000.00.11.H53/alerts")
    assert policy["emails"] == ["vanthu@stttt.gov.vn", "it@stttt.gov.vn"]
    assert policy["webhooks"] == ["https://hooks.stttt.gov.vn/truc"]
    assert policy["offline_after_seconds"] is None  # the PUT replaced the CLI's policy
    assert "no alerts raised" in out  # the CLI's list: none yet
    assert out.rstrip().endswith("0")  # and none through the API
    actions = json.loads(hub.truc("admin", "audit", "verify", "--json").stdout)
    assert actions["intact"]
