"""``python -m bench [--quick] [--only small,large,fanout,presence] [--backends …]``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from bench import edxml as edxml_bench
from bench.config import FULL, QUICK, Plan
from bench.engines import ensure_up
from bench.holders import raise_nofile
from bench.report import Recorder, Result
from bench.suite import Suite

PARTS = ("small", "large", "fanout", "replay", "presence", "edxml", "directory")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="embedded only, small sizes: a few minutes at most")
    parser.add_argument("--only", default=",".join(PARTS),
                        help="comma-separated parts: small, large, fanout, replay, presence, "
                             "edxml, directory")
    parser.add_argument("--backends", default=None,
                        help="comma-separated: embedded, distributed (default: per mode)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the hub (pyinstrument): small, then large")
    parser.add_argument("--out", type=Path, default=None, help="results file (.jsonl)")
    return parser.parse_args()


async def run(plan: Plan, parts: list[str], backends: list[str], rec: Recorder,
              profile: bool) -> int:
    engines = ensure_up() if "distributed" in backends else None
    failures = 0
    with tempfile.TemporaryDirectory(prefix="truc-bench-") as tmp:
        suite = Suite(plan, rec, Path(tmp), engines)
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        for b in backends:
            if "small" in parts:
                steps.append((f"small/{b}", functools.partial(suite.small, b)))
            if "large" in parts and b in plan.large_backends:
                steps.append((f"large/{b}", functools.partial(suite.large, b)))
            if "replay" in parts:
                steps.append((f"replay/{b}", functools.partial(suite.replay, b)))
            if "directory" in parts:
                steps.append((f"directory/{b}", functools.partial(suite.directory, b)))
        if "fanout" in parts and "embedded" in backends:
            steps.append(("fanout/embedded", suite.fanout))
        if "presence" in parts:
            steps.extend((f"presence/{b}", functools.partial(suite.presence, b))
                         for b in backends)
        if "edxml" in parts:  # the hub's edXML reader on a 50 MB package, no hub needed
            steps.append(("edxml/embedded", functools.partial(
                asyncio.to_thread, edxml_bench.run, rec, 10 if plan.mode == "quick" else 50)))
        if profile:  # pyinstrument is needed only then
            from bench.profiling import profile_large, profile_small

            steps.append(("profile/small", functools.partial(profile_small, suite)))
            steps.append(("profile/large", functools.partial(profile_large, suite)))
        for name, step in steps:
            began = time.perf_counter()
            print(f"# {name} …", file=sys.stderr, flush=True)
            try:
                await step()
            except Exception as exc:
                failures += 1
                traceback.print_exc()
                part, backend = name.split("/")
                rec.emit(Result(f"{part}.failed", backend, 1, "failure", None,
                                {"error": f"{type(exc).__name__}: {exc}"}))
                step_name = name.replace("/", "-")
                keep_logs(Path(tmp), step_name,
                          rec.path.with_name(f"{rec.context['run']}-{step_name}"))
            print(f"# {name} took {time.perf_counter() - began:.0f} s", file=sys.stderr,
                  flush=True)
    return failures


def keep_logs(tmp: Path, step: str, into: Path) -> None:
    """A failed step's hub, worker and app logs, kept next to the results."""
    for log in tmp.glob(f"{step}*/**/*.log"):
        into.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, into / "-".join(log.relative_to(tmp).parts))
    print(f"# logs kept in {into}", file=sys.stderr)


def main() -> int:
    args = parse()
    plan = QUICK if args.quick else FULL
    backends = args.backends.split(",") if args.backends else list(plan.backends)
    raise_nofile()
    rec = Recorder(plan.mode, args.out)
    print(f"# results: {rec.path}", file=sys.stderr, flush=True)
    return asyncio.run(guarded(run(plan, args.only.split(","), backends, rec, args.profile)))


async def guarded(work: Coroutine[Any, Any, int]) -> int:
    """SIGTERM cancels the run, so hubs, holders and temporary files are cleaned up."""
    task = asyncio.ensure_future(work)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return 1 if await task else 0
    except asyncio.CancelledError:
        print("# cancelled (SIGTERM)", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
