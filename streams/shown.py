"""A package's row as it is once it shows an event: what a notice about that event is
built from, so whoever reads the package after the notice agrees with it.

Waiting for the package processor's tracking record is not enough: on Cassandra the row
and the tracking record are one logged batch, atomic but not isolated, so the tracking
record can be read before the row (``hub.packages.processor.shows``). Readers that must
not hold everything else back for one late row (the notifier, the webhooks) give up
after ``patience`` seconds and build the notice from the row as it is; the shredder,
which must never act on a stale row, waits as long as it takes (``streams/shredder.py``).
"""

from __future__ import annotations

import asyncio
import logging

from hub.packages.model import Package
from hub.packages.processor import TRACKER, package_ref, shows
from hub.ports import Projections, Recorded
from streams.applied import Applied

log = logging.getLogger(__name__)
FIRST_READ_AGAIN, LAST_READ_AGAIN = 0.01, 0.5


async def package_showing(projections: Projections, applied: Applied, recorded: Recorded,
                          package_id: str, patience: float) -> Package | None:
    loop = asyncio.get_running_loop()
    until = loop.time() + patience
    try:
        await applied.wait(TRACKER, recorded.position, seconds=patience)
    except TimeoutError:
        log.warning("package processor is behind %s; telling before it catches up",
                    recorded.position)
        return await read_package(projections, package_id)
    delay = FIRST_READ_AGAIN
    while True:
        pkg = await read_package(projections, package_id)
        if pkg is None or shows(pkg, recorded.event) or loop.time() >= until:
            return pkg
        await asyncio.sleep(delay)
        delay = min(delay * 2, LAST_READ_AGAIN)


async def read_package(projections: Projections, package_id: str) -> Package | None:
    row = await projections.get(package_ref(package_id))
    return None if row is None else Package.from_json(dict(row.body))
