"""A real hub under test: on Kafka + Cassandra one Faust worker and two API nodes, or the
embedded ``truc serve``; each process can be killed with SIGKILL and restarted on the same
port and data. Agencies A and B with approved apps are made through the operator API."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.client import TrucClient

TRUC = str(Path(sys.executable).with_name("truc"))
CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "infra" / "engines" / "cluster.sh"
SOURCE, DESTINATION = "000.00.11.H53", "000.00.12.H53"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One hub process, restartable with the same command, environment and log."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    url: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, cwd: Path) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.args, env=self.env, cwd=cwd, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and anything it started."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Hub:
    backend: str
    cwd: Path
    env: dict[str, str]
    procs: dict[str, Proc] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int = 1
    """Faust workers (two on a cluster: one may be killed while the other takes over)."""
    balanced: bool = False
    """Clients reach the API nodes through HAProxy (a cluster), not each node by name."""
    exits: list[str] = field(default_factory=list)
    """Processes that exited on their own (not killed by the nemesis), restarted as a
    supervisor (systemd's Restart=always) would."""

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.procs.values() if p.url]

    @property
    def entries(self) -> dict[str, str]:
        """Where clients connect: the load balancer when there is one, else every node."""
        lb = self.procs.get("lb")
        if lb is not None and lb.url:
            return {"lb": lb.url}
        return {name: p.url for name, p in self.procs.items() if p.url}

    def truc(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([TRUC, *args], env=self.env, cwd=self.cwd, capture_output=True,
                              text=True, timeout=timeout, check=False)
        return done

    def start(self) -> None:
        if self.backend == "distributed":
            migrated = self.truc("migrate")
            if migrated.returncode != 0:
                raise RuntimeError(f"truc migrate failed:\n{migrated.stderr}")
            for n in range(1, self.workers + 1):
                self._add("worker" if n == 1 else f"worker{n}",
                          [TRUC, "worker", "--loglevel", "warning"],
                          {"TRUC_WORKER_WEB_PORT": str(free_port()),
                           "TRUC_WORKER_INSTANCE": f"worker{n}"})
            self._add("api1", [TRUC, "serve"], {}, api=True)
            self._add("api2", [TRUC, "serve"], {}, api=True)
        else:
            self._add("serve", [TRUC, "serve"], {}, api=True)
        if self.balanced:
            self._add_balancer()
        for proc in self.procs.values():
            proc.start(self.cwd)
        for proc in self.procs.values():
            if proc.url:
                self.wait_healthy(proc)

    def _add_balancer(self) -> None:
        """HAProxy (Debian's) over the API nodes, as a province runs it: health-checked each
        second, a node that fails two checks is out, a refused connection is re-dispatched."""
        port = free_port()
        config = self.cwd / "haproxy.cfg"
        config.write_text(haproxy_config(port, {n: p.url for n, p in self.procs.items()
                                                if p.url}))
        self.procs["lb"] = Proc("lb", ["haproxy", "-db", "-f", str(config)], dict(self.env),
                                self.cwd / "lb.log", f"http://127.0.0.1:{port}")

    def _add(self, name: str, args: list[str], extra: dict[str, str], api: bool = False
             ) -> None:
        env = {**self.env, **extra}
        url = None
        if api:
            port = free_port()
            env.update({"TRUC_PORT": str(port), "TRUC_NODE_ID": f"{name}-{port}"})
            url = f"http://127.0.0.1:{port}"
        self.procs[name] = Proc(name, args, env, self.cwd / f"{name}.log", url)

    def wait_healthy(self, proc: Proc, timeout: float = 180) -> float:
        """Waits until the node answers its health check; returns when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive:
                raise RuntimeError(f"{proc.name} exited: see {proc.log}")
            try:
                if httpx.get(f"{proc.url}/healthz", timeout=2).status_code < 500:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{proc.name} did not answer in {timeout} s")

    def supervise(self, held_down: set[str]) -> None:
        """Restarts a process that exited on its own (the nemesis' victim excepted)."""
        for name, proc in self.procs.items():
            if name not in held_down and not proc.alive:
                self.exits.append(f"{name} exited with {proc.popen and proc.popen.returncode}")
                proc.start(self.cwd)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    async def provision(self) -> None:
        """An admin operator (CLI), then agencies A and B with one approved app each."""
        made = self.truc("admin", "operator", "add", "Faults", "--role", "admin", "--json")
        if made.returncode != 0:
            raise RuntimeError(f"truc admin operator add failed:\n{made.stderr}")
        op = json.loads(made.stdout)["key"]
        self.keys["ops"] = op
        async with TrucClient(next(iter(self.entries.values())), op["access_key"], op["secret_key"],
                              timeout=60) as ops:
            for role, code in (("A", SOURCE), ("B", DESTINATION)):
                await ops.call("POST", "/v1/ops/agencies",
                               json_body={"code": code, "name": f"Faults {role}"})
                app = await ops.call("POST", "/v1/ops/apps",
                                     json_body={"agency_code": code, "name": role})
                approved = await ops.call("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                                          json_body={"operations": []})
                self.keys[role] = {"code": code, "app_id": app["app_id"], **approved["key"]}


def haproxy_config(port: int, nodes: dict[str, str]) -> str:
    """The configuration ``make cluster-up`` runs (``cluster.sh haproxy-config``), over
    these nodes."""
    servers = [f"{name}={url.removeprefix('http://')}" for name, url in nodes.items()]
    done = subprocess.run([str(CLUSTER_SCRIPT), "haproxy-config", str(port), *servers],
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def hub_env(backend: str, tmp: Path, kafka: str | None, cassandra: str | None
            ) -> dict[str, str]:
    """The environment every process of one hub shares (one master key, one keyspace)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env.update({"TRUC_DATA_DIR": str(tmp / "data"), "TRUC_ACCESS_LOG": "false"})
    if backend == "distributed":
        if kafka is None or cassandra is None:
            raise ValueError("the distributed hub needs Kafka and Cassandra")
        tag = uuid.uuid4().hex[:8]
        env.update({"TRUC_KAFKA": kafka, "TRUC_CASSANDRA": cassandra,
                    "TRUC_TOPIC_PREFIX": f"faults{tag}.", "TRUC_KEYSPACE": f"faults_{tag}",
                    "TRUC_PARTITIONS": "3",
                    "TRUC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    return env
