"""The suite's own Kafka and Cassandra (``infra/engines/engines.sh`` with the suite's home
and ports): started, killed with SIGKILL and restarted on the same data."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from faults.config import REPO, engine_env

SCRIPT = REPO / "infra" / "engines" / "engines.sh"


class EngineSet(Protocol):
    """What a run needs of its engines: where they listen, how the hub must be set for
    them, and a way to kill and restart one (one node, or the victim node of a cluster)."""

    hub_settings: dict[str, str]
    workers: int
    balanced: bool

    @property
    def kafka(self) -> str: ...

    @property
    def cassandra(self) -> str: ...

    def up(self, *names: str) -> None: ...

    def down(self) -> None: ...

    def kill(self, name: str) -> int: ...


@dataclass
class Engines:
    env: dict[str, str] = field(default_factory=engine_env)
    hub_settings: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    balanced: bool = False

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.env['TRUC_KAFKA_PORT']}"

    @property
    def cassandra(self) -> str:
        return f"127.0.0.1:{self.env['TRUC_CASSANDRA_PORT']}"

    def script(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=timeout, check=False)

    def up(self, *names: str) -> None:
        """Starts the engines (idempotent) and waits until they answer."""
        done = self.script("up", *(names or ("all",)))
        if done.returncode != 0:
            raise RuntimeError(f"engines did not start:\n{done.stdout}\n{done.stderr}")

    def down(self) -> None:
        self.script("down", "all")

    def pid(self, name: str) -> int | None:
        pid_file = Path(self.env["TRUC_ENGINES_HOME"]) / "run" / name / f"{name}.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def kill(self, name: str) -> int:
        """SIGKILL, as a power cut or the OOM killer would; returns the pid killed."""
        pid = self.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running: nothing to kill")
        os.kill(pid, signal.SIGKILL)
        return pid
