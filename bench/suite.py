"""The benchmarks, each against its baseline measured in the same run."""

from __future__ import annotations

import asyncio
import json
import os
import resource
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench import directory as directory_bench
from bench import large as big
from bench import presence as presence_bench
from bench import replay as replays
from bench.config import Engines, MiB, Plan
from bench.engines import producer_performance
from bench.fanout import Holders, memory, traffic
from bench.hubproc import TRUC, Hub, Provisioner, running_hub
from bench.raw import Load, RawOutcome, kafka_cassandra_baseline, sqlite_baseline
from bench.report import Recorder, Result
from bench.rss import rss_bytes
from bench.small import exchange, summary
from bench.stats import latency_ms
from bench.steps import ONE_CALL_STEPS, STEPS, step_times

HOLDER_APPS = 10
FANOUT_SOURCES = 8
FANOUT_DESTINATIONS = 4
STEP_PACKAGES = 20
Flow = Callable[[float], Awaitable[dict[str, Any]]]


class Suite:
    def __init__(self, plan: Plan, rec: Recorder, tmp: Path, engines: Engines | None) -> None:
        self.plan = plan
        self.rec = rec
        self.tmp = tmp
        self.engines = engines

    def dir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def hub(self, backend: str, name: str, serve: Sequence[str] = (TRUC, "serve")
            ) -> AbstractContextManager[Hub]:
        return running_hub(backend, self.dir(f"{name}-{backend}"), self.engines, serve)

    # --- 1. small packages -----------------------------------------------------------------

    async def small(self, backend: str) -> None:
        p = self.plan
        with self.hub(backend, "small") as hub:
            keys = await Provisioner(hub).apps(2 * p.peers)
            sources, dests = keys[:p.peers], keys[p.peers:]
            tmp = self.dir(f"small-{backend}/files")
            await exchange(hub, sources, dests, Load(2 * p.peers, 1, p.small_bytes, p.peers),
                           tmp, receivers=p.receivers_per_destination)  # warm-up
            packages = p.small_packages if backend == "embedded" \
                else p.small_packages_distributed
            for fanout in (1, 5):
                load = Load(packages // fanout, fanout, p.small_bytes, p.peers)
                outcome = await exchange(hub, sources, dests, load, tmp,
                                         receivers=p.receivers_per_destination)
                raw = await self.raw(backend, load)
                self.emit_small(backend, fanout, summary(outcome), outcome.rate, raw)
            medians = await step_times(hub, sources[0], dests[0], tmp, packages=STEP_PACKAGES,
                                       size=p.small_bytes)
            chunked = {k: v for k, v in medians.items() if k.removesuffix("_ms") in STEPS}
            self.rec.emit(Result("small.sequential_package", backend,
                                 round(sum(chunked.values()), 1), "ms", None,
                                 {"packages": STEP_PACKAGES, "median_per_step": chunked}))
            one = {k: v for k, v in medians.items() if k.removesuffix("_ms") in ONE_CALL_STEPS}
            self.rec.emit(Result("small.sequential_one_call", backend,
                                 round(sum(one.values()), 1), "ms", None,
                                 {"packages": STEP_PACKAGES, "median_per_step": one}))
        if backend == "distributed" and self.engines and p.producer_perf_records:
            perf = producer_performance(self.engines, p.producer_perf_records, p.small_bytes)
            self.rec.emit(Result("kafka.producer_performance", backend,
                                 perf["records_per_s"], "records/s",
                                 extra={"record_bytes": p.small_bytes, **perf}))

    async def raw(self, backend: str, load: Load) -> RawOutcome:
        if backend == "embedded":
            return await sqlite_baseline(self.dir(f"raw-{os.urandom(4).hex()}"), load)
        assert self.engines is not None
        return await kafka_cassandra_baseline(self.engines, load)

    def emit_small(self, backend: str, fanout: int, facts: dict[str, Any], rate: float,
                   raw: RawOutcome) -> None:
        name = f"small.{fanout}dest"
        base_lat = latency_ms(raw.latencies)
        extra = {**facts, "baseline_kind": "sqlite adapters" if backend == "embedded"
                 else "aiokafka + cassandra-driver", "baseline_seconds": round(raw.elapsed, 2),
                 "baseline_write_to_read_ms": base_lat}
        self.rec.emit(Result(f"{name}.throughput", backend, rate, "packages/s", raw.rate,
                             extra))
        for what in ("seal_to_notification_ms", "seal_to_ack_ms"):
            lat = facts[what]
            self.rec.emit(Result(f"{name}.{what.removesuffix('_ms')}.p99", backend,
                                 lat["p99"], "ms", base_lat["p99"], {"latency_ms": lat}))

    # --- 2. large content ------------------------------------------------------------------

    async def large(self, backend: str) -> None:
        size = self.plan.large_bytes if backend == "embedded" \
            else self.plan.large_bytes_distributed
        tmp = self.dir(f"large-{backend}")
        path = tmp / "large.bin"
        await asyncio.to_thread(big.make_file, path, size)
        try:
            with big.null_server(tmp) as (url, pid):
                null_up, null_down = await big.through_null(url, pid, path, size)
            with self.hub(backend, "large") as hub:
                source, dest = await Provisioner(hub).apps(2)
                up, down = await big.through_hub(hub, source, dest, path, size)
        finally:
            path.unlink(missing_ok=True)
        mib = size // MiB
        for way, hub_t, null_t in (("upload", up, null_up), ("download", down, null_down)):
            facts = big.figures(hub_t, size)
            null = big.figures(null_t, size)
            self.rec.emit(Result(f"large.{way}", backend, hub_t.mib_s(size), "MiB/s",
                                 null_t.mib_s(size), {"mib": mib, **facts, "null_app": null}))
            self.rec.emit(Result(f"large.{way}.api_rss_growth", backend,
                                 hub_t.rss_growth / MiB, "MiB", null_t.rss_growth / MiB,
                                 {"mib": mib, "rss_before_mib": facts["rss_before_mib"]}))

    # --- 4. truc replay of the statistics projection ---------------------------------------

    async def replay(self, backend: str) -> None:
        tmp = self.dir(f"replay-{backend}")
        if backend == "embedded":
            count = self.plan.replay_events
            made = await replays.fill_sqlite(tmp / "truc.sqlite3", count)
            report, wall = replays.run_replay(replays.hub_env(TRUC_DATA_DIR=str(tmp)), tmp)
        else:
            assert self.engines is not None
            count = self.plan.replay_events_distributed
            run = os.urandom(4).hex()
            env = replays.hub_env(TRUC_KAFKA=self.engines.kafka,
                                  TRUC_CASSANDRA=self.engines.cassandra,
                                  TRUC_TOPIC_PREFIX=f"bench{run}.", TRUC_KEYSPACE=f"bench{run}")
            try:
                made = await replays.fill_kafka(self.engines, f"bench{run}.", count)
                replays.migrate(env, tmp)
                report, wall = replays.run_replay(env, tmp)
            finally:
                await replays.cleanup(self.engines, f"bench{run}.", f"bench{run}")
        self.rec.emit(Result("replay.statistics.read_fold", backend,
                             report["events_per_second"], "events/s",
                             50_000 if backend == "embedded" else None,
                             {"events": made, "applied": report["applied"],
                              "read_seconds": round(report["read_seconds"], 2),
                              "read_cpu_seconds": round(report["read_cpu_seconds"], 2),
                              "events_per_cpu_second": report["events_per_cpu_second"],
                              "load_average": os.getloadavg(),
                              "calibration_loop_cpu_seconds": round(
                                  replays.calibration_seconds(), 2),
                              "rows_rebuilt": report["rows_rebuilt"],
                              "baseline_kind": "target (issue 6)"}))
        self.rec.emit(Result("replay.statistics.whole_command", backend, made / wall,
                             "events/s", None,
                             {"events": made, "wall_seconds": round(wall, 2),
                              "write_seconds": round(report["write_seconds"], 2),
                              "compare_seconds": round(report["compare_seconds"], 2),
                              "load_average": os.getloadavg()}))

    # --- 3. notification fan-out -----------------------------------------------------------

    async def fanout(self) -> None:
        p = self.plan
        with self.hub("embedded", "fanout") as hub:
            prov = Provisioner(hub)
            holders_keys = await prov.apps(HOLDER_APPS, ["receive"])
            sources = await prov.apps(FANOUT_SOURCES, ["send"])
            keys_file = self.dir("fanout-embedded") / "holders.json"
            keys_file.write_text(json.dumps(holders_keys))
            payload = keys_file.with_name("small.bin")
            payload.write_bytes(os.urandom(p.small_bytes))

            async def flow(seconds: float) -> dict[str, Any]:
                """Fresh destinations each time: no inbox left over from an earlier flow."""
                dests = await prov.apps(FANOUT_DESTINATIONS, ["receive"])
                return await traffic(hub, sources, dests, rate=p.fanout_rate, seconds=seconds,
                                     payload=payload)

            await flow(2)  # warm-up
            idle = await flow(p.fanout_seconds)
            before = rss_bytes(hub.pid)
            holders = Holders(hub, keys_file)
            try:
                for level in p.fanout_levels:
                    await self.fanout_level(hub, holders, level, before=before, idle=idle,
                                            flow=flow)
            finally:
                final = await holders.close()
            self.rec.emit(Result("fanout.connections_alive_at_end", "embedded", final["alive"],
                                 "connections", holders.connected, final))

    async def fanout_level(self, hub: Hub, holders: Holders, level: int, *, before: int,
                           idle: dict[str, Any], flow: Flow) -> None:
        opened = await holders.grow_to(level)
        await asyncio.sleep(2)
        mem = memory(hub, before, holders.connected)
        limits = {"bench_nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                  "api_nofile": _nofile(hub.pid)}
        self.rec.emit(Result("fanout.connections", "embedded", holders.connected,
                             "connections", None, {"target": level, "holder_apps": HOLDER_APPS,
                                                   "opened_by_this_step": opened, **mem, **limits}))
        self.rec.emit(Result("fanout.rss_per_connection", "embedded",
                             mem["kib_per_connection"], "KiB", None,
                             {"target": level, "connections": holders.connected, **mem}))
        loaded = await flow(self.plan.fanout_seconds)
        lat, idle_lat = loaded["seal_to_notification_ms"], idle["seal_to_notification_ms"]
        self.rec.emit(Result("fanout.seal_to_notification.p99", "embedded", lat["p99"], "ms",
                             idle_lat["p99"], {"target": level,
                                               "connections": holders.connected, **loaded,
                                               "baseline_no_connections": idle}))

    # --- 4. presence -----------------------------------------------------------------------

    async def presence(self, backend: str) -> None:
        p = self.plan
        events = p.presence_events if backend == "embedded" else p.presence_events_distributed
        done = await presence_bench.processing(backend, events, self.dir(f"presence-{backend}"),
                                               self.engines)
        self.rec.emit(Result("presence.processing", backend, done["events_per_s"], "events/s",
                             done["read_only_per_s"], done))
        if backend != "embedded":
            return
        tracker = presence_bench.tracker_bytes_per_session(10_000)
        self.rec.emit(Result("presence.tracker_bytes_per_session", backend,
                             tracker["bytes_per_session"], "bytes", None, tracker))
        with self.hub(backend, "presence") as hub:
            held = await presence_bench.held(hub, self.dir("presence-embedded"),
                                             p.presence_connections, HOLDER_APPS)
        self.rec.emit(Result("presence.rss_per_connection", backend,
                             held["kib_per_connection"], "KiB", None, held))
        self.rec.emit(Result("presence.catch_up", backend, held["catch_up_seconds"], "s",
                             None, held))


    # --- directory sync of a national agency list (issue 15) -------------------------------

    async def directory(self, backend: str) -> None:
        """A whole country's list imported into a running hub (its processors running),
        dry run then ``--apply``; the target is under a minute for 110,000 rows."""
        rows = self.plan.directory_rows
        with self.hub(backend, "directory") as hub:
            source = self.dir(f"directory-{backend}") / "agencies.json"
            size = await asyncio.to_thread(directory_bench.write_list, source, rows)
            for apply in (False, True):
                found = await asyncio.to_thread(directory_bench.timed_sync, TRUC, hub.env,
                                                hub.cwd, source, apply)
                counts = found["answer"]["counts"]
                self.rec.emit(Result(
                    "directory.sync.apply" if apply else "directory.sync.dry_run", backend,
                    found["seconds"], "s", directory_bench.TARGET_SECONDS,
                    {"rows": rows, "bytes": size, "added": counts["added"],
                     "cpu_seconds": round(found["cpu_seconds"], 1),
                     "cpu_wait_seconds": round(found["cpu_wait_seconds"], 1),
                     "peak_rss_mib": round(found["peak_rss"] / MiB, 1),
                     "load_average": os.getloadavg(), "baseline_kind": "target (issue 15)"}))


def _nofile(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return " ".join(line.split()[3:5])
    return "unknown"
