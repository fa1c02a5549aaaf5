"""`truc serve --kafka … --cassandra …`: an API node on the real engines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Engines, free_port
from tests.e2e.test_serve_embedded import wait_healthy

pytestmark = pytest.mark.engines


def test_healthz_reports_kafka_and_cassandra(engines: Engines, tmp_path: Path) -> None:
    settings = engines.settings()
    port = free_port()
    truc = Path(sys.executable).with_name("truc")
    proc = subprocess.Popen(
        [str(truc), "serve", "--port", str(port), "--kafka", engines.kafka,
         "--cassandra", engines.cassandra],
        env={"PATH": "/usr/bin:/bin", "TRUC_TOPIC_PREFIX": settings.topic_prefix,
             "TRUC_KEYSPACE": settings.keyspace},
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        response = wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, timeout=120)
        body = response.json()
        assert response.status_code == 200, body
        assert body["backend"] == "distributed"
        assert body["engines"]["kafka"]["ok"] is True
        assert body["engines"]["cassandra"]["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=30)
