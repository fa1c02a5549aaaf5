"""The hub under pyinstrument (embedded backend): small packages, then a large upload
and download.

The hub (as ``truc serve`` runs it, see ``SERVE``) runs inside ``pyinstrument``, sampling
the event loop's thread every millisecond; on SIGINT it writes a session file, rendered
next to the results as a call tree of the hub's own code, a flat list of every function
(libraries included) by the time it takes itself, and a summary by area and hub entry point
(``bench.profile_summary``); the session file stays for other views
(``pyinstrument --load <file>.pyisession``).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import large as big
from bench.config import MiB
from bench.hubproc import Hub, Provisioner
from bench.profile_summary import summarize
from bench.raw import Load
from bench.report import RESULTS
from bench.small import exchange, summary

if TYPE_CHECKING:
    from bench.suite import Suite

PYINSTRUMENT = str(Path(sys.executable).with_name("pyinstrument"))
PROFILED_LARGE = 256 * MiB
SERVE = ["-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
         "--port", "{port}", "--loop", "asyncio", "--ws-ping-interval", "20"]
"""``truc serve`` as uvicorn runs it, but on asyncio's own loop: with uvloop, time spent in
the loop (C code) and idle time are indistinguishable in the profile."""


async def _profiled(suite: Suite, name: str, work: Callable[[Hub], Awaitable[Any]]) -> None:
    if not await asyncio.to_thread(Path(PYINSTRUMENT).exists):
        print("# pyinstrument is not installed (.venv/bin/pip install pyinstrument); "
              "skipping the profile", file=sys.stderr)
        return
    stem = RESULTS / f"{suite.rec.context['run']}-profile-{name}"
    session = stem.with_suffix(".pyisession")
    serve = [PYINSTRUMENT, "-i", "0.001", "-r", "pyisession", "-o", str(session), *SERVE]
    with suite.hub("embedded", f"profile-{name}", serve) as hub:
        print(f"# profiled run (slowed by the profiler): {await work(hub)}", file=sys.stderr)
    renders: list[tuple[str, list[str]]] = [
        (".txt", []), ("-flat.txt", ["--show-all", "-p", "flat=true"])]
    for suffix, options in renders:
        out = stem.with_name(stem.name + suffix)
        render = [PYINSTRUMENT, "--load", str(session), "-r", "text", "--no-color", *options,
                  "-o", str(out)]
        await asyncio.to_thread(subprocess.run, render, check=True)
        print(f"# profile: {out}", file=sys.stderr)
    out = stem.with_name(stem.name + "-summary.txt")
    text = await asyncio.to_thread(summarize, session)
    await asyncio.to_thread(out.write_text, text)
    print(f"# profile: {out}\n{text}", file=sys.stderr)


async def profile_small(suite: Suite) -> None:
    p = suite.plan

    async def work(hub: Hub) -> dict[str, Any]:
        keys = await Provisioner(hub).apps(2 * p.peers)
        load = Load(p.small_packages, 1, p.small_bytes, p.peers)
        return summary(await exchange(hub, keys[:p.peers], keys[p.peers:], load,
                                      suite.dir("profile-small-files"),
                                      receivers=p.receivers_per_destination))

    await _profiled(suite, "small", work)


async def profile_large(suite: Suite) -> None:
    path = suite.dir("profile-large-files") / "large.bin"

    async def work(hub: Hub) -> dict[str, Any]:
        source, dest = await Provisioner(hub).apps(2)
        up, down = await big.through_hub(hub, source, dest, path, PROFILED_LARGE)
        return {"upload": big.figures(up, PROFILED_LARGE),
                "download": big.figures(down, PROFILED_LARGE)}

    await asyncio.to_thread(big.make_file, path, PROFILED_LARGE)
    try:
        await _profiled(suite, "large", work)
    finally:
        await asyncio.to_thread(path.unlink)
