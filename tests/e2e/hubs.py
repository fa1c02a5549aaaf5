"""A real hub process for end-to-end tests, on either backend, plus its `truc` CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from hub.auth.signing import sign_request
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
    admin_key: dict[str, Any] | None = None

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

    def stop(self, *, kill: bool = False) -> None:
        """Every process of the hub (API nodes, worker) stops: SIGTERM, or at once with
        SIGKILL, as a machine that loses power."""
        for proc in self.procs:
            if proc.poll() is None:
                if kill:
                    proc.kill()
                else:
                    proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=60)
        self.procs.clear()

    def start(self) -> None:
        """The hub again on the same data (with its worker, distributed), once healthy."""
        if self.backend == "distributed":
            self.start_worker()
        with self.logs.open("ab") as out:
            proc = subprocess.Popen([TRUC, "serve"], env=self.env, cwd=self.cwd, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        wait_healthy(self.url, proc)

    def replay(self, projection: str, attempts: int = 3) -> dict[str, Any]:
        """``truc replay --json``; a difference is looked at again 5 s later, up to
        ``attempts`` times, as the fault suite does (faults/run.py): an event appended
        while the replay ran (a session closed, a connection ended) is in the live rows
        but not in the rebuilt ones. A real difference stays."""
        for attempt in range(1, attempts + 1):
            report: dict[str, Any] = json.loads(self.truc(
                "replay", "--projection", projection, "--json", check=False).stdout)
            if report["equal"] or attempt == attempts:
                return report
            time.sleep(5)
        raise AssertionError("unreachable")

    def ops(self, method: str, path: str, body: dict[str, Any] | None = None,
            node: str | None = None) -> Any:
        """A signed call to the operator API with the hub's first admin (fast setup), on
        the first node or the ``node`` URL given."""
        if self.admin_key is None:
            self.admin_key = self.admin("operator", "add", "Trung tâm CNTT", "--role",
                                        "admin")["key"]
        key = self.admin_key
        content = json.dumps(body).encode() if body is not None else b""
        url = f"{node or self.url}{path}"
        headers = {"content-type": "application/json", "x-truc-nonce": os.urandom(8).hex()}
        headers.update(sign_request(
            method, url, headers, hashlib.sha256(content).hexdigest(),
            access_key=key["access_key"], secret=key["secret_key"],
            algorithm="TRUC4-HMAC-SHA256", now=datetime.now(UTC), region="vn",
            service="truc"))
        response = httpx.request(method, url, content=content, headers=headers, timeout=60)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def start_node(self) -> str:
        """Another API node on the same engines; returns its URL once it is healthy."""
        port = free_port()
        env = {**self.env, "TRUC_PORT": str(port), "TRUC_NODE_ID": f"node-{port}"}
        with (self.cwd / f"node-{port}.log").open("ab") as out:
            node = subprocess.Popen([TRUC, "serve"], env=env, cwd=self.cwd, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(node)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, node)
        return url

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
    env["TRUC_WEBHOOK_RETRY_SECONDS"] = "0.2"
    env["TRUC_WATCHDOG_SECONDS"] = "1"  # deadlines a few seconds ahead expire promptly
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
def running_hub(backend: str, tmp: Path, engines: Engines | None = None,
                **settings: str) -> Iterator[RunningHub]:
    """A hub process; ``settings`` are extra ``TRUC_*`` variables (``space_ttl_minutes="1"``)."""
    env = hub_env(backend, tmp, engines)
    env.update({f"TRUC_{k.upper()}": v for k, v in settings.items()})
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
