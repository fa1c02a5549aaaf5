"""The console's login lockout policy: after ``failures`` wrong passwords in a row for one
login, that login is refused for ``minutes``; a right password starts the count again.

Kept in memory where logins are checked (one node: a hub of several nodes lets an attacker
try ``failures`` times per node — each try costs an argon2 hash, and the window is short).
Bounded, because the logins come from whoever posts the form: locks are forgotten once
they lapse, and at most ``TRACKED`` logins are counted (the oldest count is dropped first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

TRACKED = 10_000


@dataclass
class Lockout:
    failures: int
    minutes: float
    clock: Callable[[], float] = time.monotonic
    counts: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def locked(self, login: str) -> bool:
        return self.until.get(login, 0.0) > self.clock()

    def failed(self, login: str) -> None:
        now = self.clock()
        for lapsed in [k for k, t in self.until.items() if t <= now]:
            del self.until[lapsed]
        count = self.counts.pop(login, 0) + 1  # popped: the newest count goes last
        if count >= self.failures:
            self.until[login] = now + self.minutes * 60
            return
        self.counts[login] = count
        while len(self.counts) > TRACKED:
            del self.counts[next(iter(self.counts))]

    def passed(self, login: str) -> None:
        self.counts.pop(login, None)
