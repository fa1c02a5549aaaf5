"""`make fuzz`: the long fuzz run against a fresh embedded hub; prints a JSON summary and
exits 1 if any response was ≥ 500, an error was not a problem with a code, a request got
no answer, or the hub could not exchange a package afterwards.

    TRUC_FUZZ_CASES   total case budget (default 24000)
    TRUC_FUZZ_SEED    the first pass's seed (default 0: the same cases every run)
    TRUC_FUZZ_DIR     where the hub keeps its data and log (default: a temporary folder)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from tests.e2e.hubs import running_hub
from tests.fuzz.corpus import run_corpus
from tests.fuzz.runner import run
from tests.fuzz.world import build_world, dead_letters, exchange_still_works, health


def main() -> int:
    budget = int(os.environ.get("TRUC_FUZZ_CASES", "24000"))
    seed = os.environ.get("TRUC_FUZZ_SEED")
    kept = os.environ.get("TRUC_FUZZ_DIR")
    with tempfile.TemporaryDirectory() as scratch, \
            running_hub("embedded", Path(kept or scratch)) as hub:
        world = build_world(hub)
        summary = run(world, budget, seed=int(seed or 0))
        run_corpus(world, summary)
        after = summary.as_json()
        try:
            after["exchange_after"] = asyncio.run(exchange_still_works(world))
        except Exception as error:
            after["exchange_after"] = f"FAILED: {type(error).__name__}: {error}"
        try:
            report = health(hub.url)
            after["healthz"] = report.status_code
            after["dead_letters"] = dead_letters(report.json())
        except Exception as error:
            after["healthz"] = f"FAILED: {type(error).__name__}: {error}"
            after["dead_letters"] = None
        after["hub_alive"] = all(p.poll() is None for p in hub.procs)
        log = Path(hub.logs).read_text(errors="replace")
        after["tracebacks_in_log"] = log.count("Traceback (most recent call last)")
    print(json.dumps(after, indent=1, ensure_ascii=False))
    ok = (after["status_5xx"] == 0 and after["findings"] == 0 and after["healthz"] == 200
          and after["dead_letters"] == 0 and after["hub_alive"]
          and after["exchange_after"] == "completed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
