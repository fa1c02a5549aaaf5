"""docs/zones.md, followed literally: every ``sh`` block, in order, as one bash script
against a running hub, with the doc's placeholders (the example host, the operator's and
the app's keys, ``./truc-data``) filled in as a reader would. A doc that changes without
the code, or the code without the doc, breaks this test."""

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
def zones_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub("embedded", tmp_path_factory.mktemp("zones-doc")) as hub:
        yield hub


@pytest.mark.timeout(900)
def test_every_command_of_zones_md_works_verbatim(zones_hub: RunningHub,
                                                  tmp_path: Path) -> None:
    for tool in ("curl", "jq", "openssl"):
        assert shutil.which(tool), f"the doc needs {tool}"
    hub = zones_hub
    hub.ops("POST", "/v1/ops/agencies", {"code": "000.00.11.H53", "name": "Sở TT&TT"})
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": "000.00.11.H53", "name": "QLVB"})
    key = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"]
    assert hub.admin_key is not None
    blocks = sh_blocks((ROOT / "docs" / "zones.md").read_text())
    assert len(blocks) >= 6
    script = ("\n".join(blocks)
              .replace("https://truc.example.gov.vn", hub.url)
              .replace("TRUCOPERATORXXXXXXXX", hub.admin_key["access_key"])
              .replace("'operator-secret-key'", shlex.quote(hub.admin_key["secret_key"]))
              .replace("TRUCXXXXXXXXXXXXXXXX", key["access_key"])
              .replace("'source-secret-key'", shlex.quote(key["secret_key"]))
              .replace("./truc-data", hub.env["TRUC_DATA_DIR"])
              .replace(".venv/bin/", f"{VENV_BIN}/"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env["TRUC_DATA_DIR"] = hub.env["TRUC_DATA_DIR"]  # what `./truc-data` is for the hub
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "dry run (--apply records it): 3 added" in out
    assert "applied: 3 added" in out
    assert '"000.00.12.H53"' in out  # the search found Sở Tư pháp by its folded name
    assert '"000.00.12.H53": "000.00.05.H29"' in out  # the source is told the new code
    assert '"OK"' in out  # the axis-signed getAgenciesList
    assert "dry run (--apply records it): 0 added, 0 renamed" in out  # read back: unchanged
    assert "000.01.20.H47: zone other (branch 000.00.20.H47)" in out  # the CLI's route
    assert '{"code":"000.00.31.H46","local":false,"zone":"other","kind":"code",' in out
    assert '["000.00.32.H46"]' in out and '{"zone":"thu-nghiem","removed":true}' in out
    assert '{"agency_code":"000.00.07.H48","state":"planned"}' in out  # routed, accepted
    zones = hub.ops("GET", "/v1/ops/zones")
    assert [(z["zone"], z["provinces"], z["codes"]) for z in zones] == \
        [("other", ["H48"], ["000.00.31.H46"])]
    agencies = {a["code"]: a for a in hub.ops("GET", "/v1/ops/agencies")}
    assert agencies["000.00.00.H53"]["merged_into"] == agencies["000.00.00.H29"]["agency_id"]
    assert agencies["000.00.05.H29"]["former_codes"] == ["000.00.12.H53"]
    listed = json.loads(subprocess.run(
        [f"{VENV_BIN}/truc", "directory", "tu phap", "--json"],
        env={**env, "TRUC_URL": hub.url, "TRUC_ACCESS_KEY": key["access_key"],
             "TRUC_SECRET_KEY": key["secret_key"]},
        capture_output=True, text=True, timeout=60, check=True).stdout)
    assert [a["code"] for a in listed["agencies"]] == ["000.00.05.H29"]
