"""Results as JSON lines: printed, and appended to ``bench/results/<timestamp>.jsonl``."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import ratio

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def machine() -> dict[str, Any]:
    """CPU count and model, RAM, kernel and Python: what the numbers were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                   .splitlines() if line.startswith("MemTotal:"))
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "ram_gib": round(mem_kib / 1024**2, 1), "kernel": platform.release(),
            "python": platform.python_version()}


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                           capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=REPO, capture_output=True, text=True, check=False)
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass
class Result:
    name: str
    backend: str
    figure: float
    unit: str
    baseline: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self, context: dict[str, Any]) -> dict[str, Any]:
        line: dict[str, Any] = _clean({"name": self.name, "backend": self.backend,
                       "figure": round(self.figure, 3), "unit": self.unit,
                       "baseline": None if self.baseline is None else round(self.baseline, 3),
                       "ratio": ratio(self.figure, self.baseline), **context, **self.extra})
        return line


class Recorder:
    """Writes each result as soon as it is known, so a failed run keeps what it measured."""

    def __init__(self, mode: str, path: Path | None = None) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.path = path or RESULTS / f"{stamp}.jsonl"
        self.context = {"mode": mode, "run": stamp, "machine": machine(), "commit": commit()}
        self.lines: list[dict[str, Any]] = []

    def emit(self, result: Result) -> None:
        line = result.line(self.context)
        self.lines.append(line)
        text = json.dumps(line, ensure_ascii=False)
        print(text, flush=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as out:
            out.write(text + "\n")
