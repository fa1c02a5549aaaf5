"""Resident memory of a process, read from /proc/<pid>/status, sampled on a thread."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_wait_seconds(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU so far
    (``/proc/<pid>/task/*/schedstat``, second field): on a shared machine, the part of a
    wall time that is other jobs' load, not the process's own work."""
    waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            waited += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waited / 1e9


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the main thread (the event loop) and of all other threads together
    (SQLite's, the thread pool's): Python does not name its threads for the OS."""
    found = {"main": 0.0, "threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        found["main" if task.name == str(pid) else "threads"] += ticks / os.sysconf("SC_CLK_TCK")
    return found


class RssSampler:
    """``with RssSampler(pid) as s:`` samples every ``interval`` s; ``s.before`` is the RSS
    just before, ``s.peak`` the highest seen, ``s.growth`` the difference."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.samples = 0
        self.cpu_wait = 0.0
        """The process's ``cpu_wait_seconds`` at the last sample (threads gone by then
        are not counted)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self.before = self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        try:
            self.peak = max(self.peak, rss_bytes(self.pid))
            self.cpu_wait = cpu_wait_seconds(self.pid)
            self.samples += 1
        except (OSError, RuntimeError):
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    @property
    def growth(self) -> int:
        return self.peak - self.before
