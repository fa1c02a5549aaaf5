"""The operator's SIGUSR1 dump names each waiting task and where it waits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from streams import taskdump


async def stuck_on_purpose(never: asyncio.Event) -> None:
    await never.wait()


async def test_the_dump_shows_where_each_task_waits() -> None:
    task = asyncio.create_task(stuck_on_purpose(asyncio.Event()), name="the-stuck-one")
    await asyncio.sleep(0)
    dump = taskdump.dump_tasks()
    task.cancel()
    assert "--- the-stuck-one" in dump
    assert "stuck_on_purpose" in dump and "never.wait()" in dump


async def test_sigusr1_writes_the_dump_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    taskdump.install()
    try:
        with caplog.at_level(logging.WARNING, logger="streams.taskdump"):
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.sleep(0.05)
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
    assert any("task dump (SIGUSR1)" in r.getMessage() for r in caplog.records)
