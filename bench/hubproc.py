"""A real hub for benchmarks: ``truc serve`` (and, distributed, a Faust worker) in
subprocesses, an admin operator made with the ``truc`` CLI, agencies and apps made
through the operator API with the project's client."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.client import TrucClient
from bench.config import Engines

TRUC = str(Path(sys.executable).with_name("truc"))
Key = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    url: str
    env: dict[str, str]
    cwd: Path
    backend: str
    api: subprocess.Popen[bytes]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.api.pid

    def truc(self, *args: str) -> Any:
        done = subprocess.run([TRUC, *args, "--json"], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"truc {' '.join(args)} failed:\n{done.stderr}")
        return json.loads(done.stdout)


def hub_env(backend: str, tmp: Path, engines: Engines | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env["TRUC_DATA_DIR"] = str(tmp / "data")
    env["TRUC_NODE_ID"] = "bench"
    if backend == "distributed":
        if engines is None:
            raise ValueError("the distributed backend needs engines")
        tag = uuid.uuid4().hex[:8]
        env.update({"TRUC_KAFKA": engines.kafka, "TRUC_CASSANDRA": engines.cassandra,
                    "TRUC_TOPIC_PREFIX": f"bench{tag}.", "TRUC_KEYSPACE": f"bench_{tag}",
                    "TRUC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    return env


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy in {timeout} s")


@contextmanager
def running_hub(backend: str, tmp: Path, engines: Engines | None = None,
                serve: Sequence[str] = (TRUC, "serve")) -> Iterator[Hub]:
    """A hub on a free port; ``serve`` may wrap ``truc serve`` (e.g. in a profiler) and
    use ``{port}`` for the port chosen."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = hub_env(backend, tmp, engines)
    port = free_port()
    env["TRUC_PORT"] = str(port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if backend == "distributed":
            subprocess.run([TRUC, "migrate"], env=env, cwd=tmp, check=True,
                           capture_output=True, timeout=180)
            wenv = {**env, "TRUC_WORKER_WEB_PORT": str(free_port())}
            with (tmp / "worker.log").open("ab") as out:
                procs.append(subprocess.Popen([TRUC, "worker", "--loglevel", "warning"],
                                              env=wenv, cwd=tmp, stdout=out,
                                              stderr=subprocess.STDOUT))
        with (tmp / "hub.log").open("ab") as out:
            api = subprocess.Popen([a.format(port=port) for a in serve], env=env, cwd=tmp,
                                   stdout=out, stderr=subprocess.STDOUT)
        procs.append(api)
        wait_healthy(f"http://127.0.0.1:{port}", api)
        yield Hub(f"http://127.0.0.1:{port}", env, tmp, backend, api, procs)
    finally:
        stop(procs)


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGINT (lets a profiler write its report), then wait; kill what lingers."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def agency_code(i: int) -> str:
    """Distinct QCVN 102:2016 codes: 000.00.01.B00 … 000.00.99.B00, 000.00.01.B01 …"""
    return f"000.00.{i % 99 + 1:02d}.B{i // 99:02d}"


class Provisioner:
    """Agencies with approved apps, made through ``/v1/ops`` as an admin operator."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._next = 0
        made = hub.truc("admin", "operator", "add", "bench", "--role", "admin")
        self._op = made["key"]

    async def apps(self, count: int, grants: Sequence[str] = ()) -> list[Key]:
        async with TrucClient(self.hub.url, self._op["access_key"],
                              self._op["secret_key"]) as ops:
            keys = []
            for _ in range(count):
                keys.append(await self._one(ops, agency_code(self._next), list(grants)))
                self._next += 1
            return keys

    async def apps_on(self, codes: Sequence[str], grants: Sequence[str] = ()) -> list[Key]:
        """More apps on agencies that exist already."""
        async with TrucClient(self.hub.url, self._op["access_key"],
                              self._op["secret_key"]) as ops:
            return [await self._approve(ops, code, list(grants)) for code in codes]

    async def _one(self, ops: TrucClient, code: str, grants: list[str]) -> Key:
        await ops.call("POST", "/v1/ops/agencies", json_body={"code": code,
                                                               "name": f"Bench {code}"})
        return await self._approve(ops, code, grants)

    async def _approve(self, ops: TrucClient, code: str, grants: list[str]) -> Key:
        app = await ops.call("POST", "/v1/ops/apps",
                             json_body={"agency_code": code, "name": "bench"})
        approved = await ops.call("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                                  json_body={"operations": grants})
        return {"code": code, **approved["key"]}


def client(hub: Hub, key: Key, timeout: float = 60) -> TrucClient:
    return TrucClient(hub.url, key["access_key"], key["secret_key"], timeout=timeout)
