"""``kill -USR1 <worker pid>`` writes every asyncio task's stack to the worker's log.

Why: a worker whose group stops rebalancing is waiting on some event's handler; the
operator (and the fault suite) must be able to see which and where, without a debugger
and without stopping the worker.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal

log = logging.getLogger(__name__)


def dump_tasks() -> str:
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    out.write(f"{len(tasks)} asyncio tasks\n")
    for task in tasks:
        out.write(f"--- {task.get_name()} {task.get_coro()!r}\n")
        task.print_stack(limit=25, file=out)
    return out.getvalue()


def install() -> None:
    """On the running loop; a no-op where signals cannot be set (not the main thread)."""
    try:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGUSR1, lambda: log.warning("task dump (SIGUSR1):\n%s", dump_tasks()))
    except (NotImplementedError, RuntimeError, ValueError):
        log.info("no SIGUSR1 task dump in this process")
