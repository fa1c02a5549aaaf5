"""One run: a hub, a load, one kill -9 mid-load and a restart, then the checks.

The nemesis kills ``component`` ``plan.kill_at`` seconds into the load and restarts it
``plan.down_for`` seconds later; the load goes on throughout. Then the run waits until
every sealed package is completed and its content shredded, or until ``plan.stuck_after``
seconds after recovery, and the checker reads the history, the log and raw storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.client import TrucClient
from faults.checker import check
from faults.cluster import REVOCATION_BOUND_S, revocation_reach
from faults.config import Plan
from faults.engines import EngineSet
from faults.history import History
from faults.hub import TRUC, Hub, hub_env
from faults.load import Destination, Package, Source, make_packages
from faults.storage import RawContent, read_log


def say(what: str) -> None:
    """Progress on stderr (stdout carries only the JSON lines)."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


@dataclass
class Nemesis:
    component: str
    hub: Hub
    engines: EngineSet | None
    killed_at: float | None = None
    restarted_at: float | None = None
    back_at: float | None = None
    """When the restarted component answered again (engine ready, node healthy)."""
    held_down: set[str] = field(default_factory=set)

    @property
    def victims(self) -> tuple[list[str], list[str]]:
        """The engines and the hub processes this nemesis kills (``all``: one of each)."""
        if self.component == "all":
            return ["kafka", "cassandra"], ["worker", "api1"]
        if self.component in ("kafka", "cassandra"):
            return [self.component], []
        return [], [{"worker": "worker", "api": "api1", "embedded": "serve"}[self.component]]

    def kill(self) -> None:
        engines, procs = self.victims
        for name in engines:
            assert self.engines is not None
            self.engines.kill(name)
        for name in procs:
            self.held_down.add(name)
            self.hub.procs[name].kill()
        self.killed_at = time.monotonic()

    def restart(self) -> None:
        self.restarted_at = time.monotonic()
        engines, procs = self.victims
        if engines:
            assert self.engines is not None
            self.engines.up(*engines)
        for name in procs:
            self.hub.procs[name].start(self.hub.cwd)
        self.held_down.clear()
        for name in procs:
            if self.hub.procs[name].url:
                self.hub.wait_healthy(self.hub.procs[name])
        self.back_at = time.monotonic()

    async def strike(self, plan: Plan) -> None:
        await asyncio.sleep(plan.kill_at)
        await asyncio.to_thread(self.kill)
        say(f"killed {self.component} (kill -9)")
        await asyncio.sleep(plan.down_for)
        await asyncio.to_thread(self.restart)
        say(f"{self.component} restarted, back in "
            f"{(self.back_at or 0) - (self.restarted_at or 0):.1f} s")


async def supervise(hub: Hub, nemesis: Nemesis) -> None:
    while True:
        await asyncio.sleep(1)
        await asyncio.to_thread(hub.supervise, nemesis.held_down)


async def settle(sealed: list[str], source_nodes: list[tuple[str, TrucClient]],
                 raw: RawContent, until: float) -> tuple[dict[str, str], dict[str, int]]:
    """Polls, as the source, each sealed package until it is completed, and raw storage
    until its content is gone; returns the last states seen and what content is left."""
    states: dict[str, str] = {}
    left: dict[str, int] = {}
    turn = 0
    while True:
        for pid in sealed:
            if states.get(pid) != "completed":
                with contextlib.suppress(Exception):
                    _, client = source_nodes[turn % len(source_nodes)]
                    turn += 1
                    states[pid] = (await client.package(pid))["state"]
            if states.get(pid) == "completed" and left.get(pid, 1):
                with contextlib.suppress(Exception):
                    left[pid] = await raw.left_async(pid)
        done = all(states.get(pid) == "completed" and left.get(pid) == 0 for pid in sealed)
        if done or time.monotonic() >= until:
            return states, left
        await asyncio.sleep(2)


def replay(hub: Hub, projection: str, attempts: int = 3) -> dict[str, Any]:
    """``truc replay``; a difference is looked at again 15 s later, up to ``attempts``
    times: an event appended while the replay ran (a WebSocket closed at the end of the
    load, a node's connections ended by the watchdog) is in the live rows but not in the
    rebuilt ones. A real difference stays; the report says how many attempts it took."""
    for attempt in range(1, attempts + 1):
        result = _replay_once(hub, projection)
        result["attempts"] = attempt
        if result["exit"] != 1 or attempt == attempts:
            break
        time.sleep(15)
    return result


def _replay_once(hub: Hub, projection: str) -> dict[str, Any]:
    done = subprocess.run([TRUC, "replay", "--projection", projection, "--json"],
                          env=hub.env, cwd=hub.cwd, capture_output=True, text=True,
                          timeout=600, check=False)
    result: dict[str, Any] = {"exit": done.returncode}
    with contextlib.suppress(ValueError):
        report = json.loads(done.stdout)
        result.update({k: report.get(k) for k in (
            "equal", "only_live", "only_rebuilt", "different", "live_caught_up")})
        result["examples"] = report.get("examples", [])[:3]
    if done.returncode not in (0, 1):
        result["stderr"] = done.stderr[-2000:]
    return result


async def run_one(component: str, run: int, plan: Plan, engines: EngineSet | None,
                  tmp: Path) -> dict[str, Any]:
    backend = "embedded" if component == "embedded" else "distributed"
    await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
    env = hub_env(backend, tmp, engines.kafka if engines else None,
                  engines.cassandra if engines else None)
    env.update(engines.hub_settings if engines else {})
    hub = Hub(backend, tmp, env, workers=engines.workers if engines else 1,
              balanced=engines.balanced if engines else False)
    began = time.monotonic()
    say(f"{component} run {run}: {plan.packages} packages, kill at {plan.kill_at} s, in {tmp}")
    try:
        hub.start()
        await hub.provision()
        say(f"hub up and provisioned in {time.monotonic() - began:.1f} s")
        return await _load_and_check(component, run, plan, engines, hub=hub, began=began)
    finally:
        hub.stop()


async def _load_and_check(component: str, run: int, plan: Plan, engines: EngineSet | None,
                          *, hub: Hub, began: float) -> dict[str, Any]:
    history = History()
    packages = make_packages(hub.cwd / "outbox", uuid.uuid4().hex[:8], plan.packages, plan.size,
                             hub.keys["A"]["app_id"])
    nemesis = Nemesis(component, hub, engines)
    raw = RawContent(hub.env)
    inbox = hub.cwd / "inbox"
    inbox.mkdir(exist_ok=True)
    async with AsyncExitStack() as stack:
        def nodes(role: str) -> list[tuple[str, TrucClient]]:
            key = hub.keys[role]
            return [(name, TrucClient(url, key["access_key"], key["secret_key"], timeout=30))
                    for name, url in hub.entries.items()]

        a_nodes, b_nodes = nodes("A"), nodes("B")
        for _, c in a_nodes + b_nodes:
            await stack.enter_async_context(c)
        source = Source(a_nodes, history, hub.keys["A"]["app_id"], plan.rate, plan.senders)
        dest = Destination(b_nodes, history, plan.receivers, inbox)
        dest.start()
        guard = asyncio.create_task(supervise(hub, nemesis))
        load_began = time.monotonic()
        strike = asyncio.create_task(nemesis.strike(plan))
        load = asyncio.create_task(source.run(packages))
        await strike
        assert nemesis.restarted_at is not None
        source.give_up_at = nemesis.restarted_at + plan.give_up_after
        await load
        load_ended = time.monotonic()
        say(f"load done: {sum(1 for p in packages if p.sealed_at)} sealed")
        recovered = _recovered_at(packages, dest, nemesis)
        until = max(load_ended, recovered or nemesis.back_at or load_ended) + plan.stuck_after
        dest.give_up_at = until
        in_log = await read_log(hub.env)
        sealed = sorted({p.pid for p in packages if p.package_id}
                        | {pid for pid, one in in_log.items() if one.sealed})
        say(f"waiting for {len(sealed)} sealed packages to complete and be shredded")
        states, left = await settle(sealed, a_nodes, raw, until)
        await dest.stop()
        guard.cancel()
        raw.close()
        recovered = _recovered_at(packages, dest, nemesis)
    logged = await read_log(hub.env)
    checking = time.monotonic()
    names = ("statistics", "history")
    done = await asyncio.gather(*(asyncio.to_thread(replay, hub, p) for p in names))
    replays = dict(zip(names, done, strict=True))
    result = check(packages, history, dest, logged=logged, states=states, left=left,
                   replays=replays)
    if hub.balanced:
        await _check_revocation(hub, result)
    acked = [dest.acked[p.pid] for p in packages if p.pid in dest.acked]
    restart = nemesis.restarted_at
    result.update({
        "suite": "faults", "component": component, "run": run,
        "backend": hub.backend, "packages": plan.packages, "rate": plan.rate,
        "kill_at_s": plan.kill_at, "down_for_s": plan.down_for,
        "recovery_s": None if recovered is None else round(max(0.0, recovered - restart), 1),
        "pause_s": _longest_pause(acked, nemesis.killed_at),
        "drain_s": round(max(acked) - restart, 1) if acked and not result["lost"] else None,
        "back_s": round((nemesis.back_at or restart) - restart, 1),
        "setup_s": round(load_began - began, 1), "load_s": round(load_ended - load_began, 1),
        "replay_s": round(time.monotonic() - checking, 1),
        "run_s": round(time.monotonic() - began),
        "exits": hub.exits, "dir": str(hub.cwd)})
    (hub.cwd / "history.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in history.rows()))
    return result


async def _check_revocation(hub: Hub, result: dict[str, Any]) -> None:
    """On a cluster: a key revoked through one API node is refused by every node within
    ``REVOCATION_BOUND_S``."""
    reach = await revocation_reach(hub)
    result["revocation_s"] = reach
    late = [n for n, s in reach.items() if s is None or s > REVOCATION_BOUND_S]
    if late:
        result["problems"].append(f"revocation late on {', '.join(late)}")
        result["ok"] = False


def _longest_pause(acked: list[float], killed_at: float | None) -> float | None:
    """The longest time with no acknowledgement at all, from the kill to the last one: how
    long the hub stopped serving end to end (a cluster should not stop)."""
    if killed_at is None:
        return None
    after = sorted(t for t in acked if t >= killed_at)
    if not after:
        return None
    marks = [killed_at, *after]
    return round(max(b - a for a, b in itertools.pairwise(marks)), 1)


def _recovered_at(packages: list[Package], dest: Destination, nemesis: Nemesis
                  ) -> float | None:
    """The first acknowledgement of a package first sent after the kill."""
    killed = nemesis.killed_at or 0.0
    times = [dest.acked[p.pid] for p in packages
             if p.pid in dest.acked and (p.first_invoked or 0) >= killed]
    return min(times) if times else None

