"""`truc worker` with one processor made flaky, for the outage test (run as a module).

The directory processor fails the first ``TRUC_TEST_FAILURES`` tries of each agency whose
name starts with ``TRUC_TEST_FLAKY`` with the real ``cassandra.Unavailable`` — what the
driver raises when replicas are down — and notes each failure in ``TRUC_TEST_FAULT_LOG``.
The shared Cassandra itself is never stopped.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import cassandra

import streams.app as worker_app
from hub import events as ev
from hub.ports import Recorded
from infra.settings import Settings
from streams.runner import Processor


class Flaky:
    def __init__(self, inner: Processor, prefix: str, failures: int, notes: Path) -> None:
        self.name, self.topics = inner.name, inner.topics
        self._inner, self._prefix, self._failures, self._notes = inner, prefix, failures, notes
        self._tries: Counter[str] = Counter()

    async def handle(self, recorded: Recorded) -> bool:
        event = recorded.event
        if isinstance(event, ev.AgencyRegistered) and event.name.startswith(self._prefix):
            self._tries[event.event_id] += 1
            if self._tries[event.event_id] <= self._failures:
                with self._notes.open("a") as notes:
                    notes.write(f"{event.event_id}\n")
                raise cassandra.Unavailable("replicas down (injected)", consistency=1,
                                            required_replicas=1, alive_replicas=0)
        return await self._inner.handle(recorded)


def main() -> None:
    build = worker_app.build_processors
    prefix, failures = os.environ["TRUC_TEST_FLAKY"], int(os.environ["TRUC_TEST_FAILURES"])
    notes = Path(os.environ["TRUC_TEST_FAULT_LOG"])

    def flaky(*args: Any, **kwargs: Any) -> list[Processor]:
        found: list[Processor] = build(*args, **kwargs)
        return [Flaky(p, prefix, failures, notes) if p.name == "directory" else p
                for p in found]

    worker_app.build_processors = flaky  # type: ignore[assignment]
    worker_app.run_worker(Settings(), "warning")


if __name__ == "__main__":
    main()
