"""`truc serve --kafka … --cassandra …`: an API node on the real engines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import Engines
from tests.e2e.hubs import TRUC, running_hub

pytestmark = pytest.mark.engines


def test_healthz_reports_kafka_and_cassandra(engines: Engines, tmp_path: Path) -> None:
    with running_hub("distributed", tmp_path, engines) as hub:
        response = httpx.get(f"{hub.url}/healthz", timeout=10)
    body = response.json()
    assert response.status_code == 200, body
    assert body["backend"] == "distributed"
    assert body["engines"]["kafka"]["ok"] is True
    assert body["engines"]["cassandra"]["ok"] is True


def test_a_node_without_the_master_key_refuses_to_start(engines: Engines,
                                                        tmp_path: Path) -> None:
    with running_hub("distributed", tmp_path, engines) as hub:
        env = {k: v for k, v in hub.env.items() if k != "TRUC_MASTER_KEY"}
        refused = subprocess.run([TRUC, "admin", "agency", "list"], env=env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2
    assert "TRUC_MASTER_KEY" in refused.stderr
