"""`truc serve` with no configuration: the embedded hub answers /healthz."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub exited with {proc.returncode}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.fixture
def embedded_hub(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    truc = Path(sys.executable).with_name("truc")
    proc = subprocess.Popen([str(truc), "serve", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_healthz_reports_the_embedded_backend(embedded_hub: tuple[str, Path]) -> None:
    url, cwd = embedded_hub
    response = httpx.get(f"{url}/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["backend"] == "embedded"
    assert body["engines"]["sqlite"]["ok"] is True
    assert (cwd / "truc-data" / "truc.sqlite3").exists(), "default data dir is ./truc-data"


def test_unknown_paths_get_a_problem_body(embedded_hub: tuple[str, Path]) -> None:
    url, _ = embedded_hub
    response = httpx.get(f"{url}/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_half_a_distributed_configuration_is_refused() -> None:
    truc = Path(sys.executable).with_name("truc")
    result = subprocess.run([str(truc), "serve", "--kafka", "127.0.0.1:1"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "--cassandra" in result.stderr
