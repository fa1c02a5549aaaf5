"""A real hub process for end-to-end tests, on either backend, plus its `truc` CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Engines, free_port

TRUC = str(Path(sys.executable).with_name("truc"))


@dataclass
class RunningHub:
    url: str
    env: dict[str, str]
    cwd: Path
    backend: str
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def truc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([TRUC, *args], env=self.env, cwd=self.cwd, capture_output=True,
                                text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"truc {' '.join(args)} failed:\n{result.stderr}")
        return result

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A Faust worker on the same engines (distributed hubs only)."""
        env = {**self.env, "TRUC_WORKER_WEB_PORT": str(free_port())}
        with (self.cwd / "worker.log").open("ab") as out:
            worker = subprocess.Popen([TRUC, "worker", "--loglevel", "warning"], env=env,
                                      cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(worker)
        return worker

    def admin(self, *args: str) -> Any:
        return json.loads(self.truc("admin", *args, "--json").stdout)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub exited with {proc.returncode}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def hub_env(backend: str, tmp: Path, engines: Engines | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env["TRUC_DATA_DIR"] = str(tmp / "data")
    if backend == "distributed":
        assert engines is not None
        settings = engines.settings()
        env.update({
            "TRUC_KAFKA": engines.kafka, "TRUC_CASSANDRA": engines.cassandra,
            "TRUC_TOPIC_PREFIX": settings.topic_prefix, "TRUC_KEYSPACE": settings.keyspace,
            "TRUC_PARTITIONS": "3",
            "TRUC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        })
    return env


@contextmanager
def running_hub(backend: str, tmp: Path, engines: Engines | None = None) -> Iterator[RunningHub]:
    env = hub_env(backend, tmp, engines)
    port = free_port()
    env["TRUC_PORT"] = str(port)
    logs = tmp / "hub.log"
    hub = RunningHub(f"http://127.0.0.1:{port}", env, tmp, backend, logs)
    if backend == "distributed":
        hub.truc("migrate")
        hub.start_worker()
    with logs.open("ab") as out:
        proc = subprocess.Popen([TRUC, "serve"], env=env, cwd=tmp, stdout=out,
                                stderr=subprocess.STDOUT)
    hub.procs.append(proc)
    try:
        wait_healthy(hub.url, proc)
        yield hub
    finally:
        for p in hub.procs:
            p.terminate()
        for p in hub.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
