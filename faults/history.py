"""The history, as Jepsen keeps it: every operation a client invokes, and how it ended.

``ok``: it happened. ``fail``: the hub said it did not (a 4xx refusal). ``info``: nobody
knows — the connection was lost, the call timed out, or the hub answered 5xx (a 503 may
come after the write was recorded). An ``info`` is never counted as a failure: the checker
resolves it from the event log at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from api.client import TrucError


@dataclass
class Op:
    f: str
    """send, fetch or ack."""
    key: str
    """The package's idempotency key (send) or id (fetch, ack)."""
    node: str
    invoked: float
    type: str = "invoke"
    completed: float | None = None
    value: str | None = None
    """send: the package id; fetch: the digest of what was received."""
    error: str | None = None
    """``503 processor_lagging``, ``conn ReadError``… for the error table."""


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)

    def invoke(self, f: str, key: str, node: str) -> Op:
        op = Op(f, key, node, time.monotonic())
        self.ops.append(op)
        return op

    @staticmethod
    def ok(op: Op, value: str | None = None) -> None:
        op.type, op.completed, op.value = "ok", time.monotonic(), value

    @staticmethod
    def failed(op: Op, exc: BaseException) -> None:
        """Classifies the exception: a definite refusal, or an unknown outcome."""
        op.completed = time.monotonic()
        if isinstance(exc, TrucError):
            op.error = f"{exc.status} {exc.code}"
            op.type = "fail" if exc.status < 500 else "info"
        elif isinstance(exc, httpx.ConnectError):
            op.type, op.error = "fail", f"conn {type(exc).__name__}"  # nothing was sent
        else:
            op.type, op.error = "info", f"conn {type(exc).__name__}"

    def of(self, f: str, type_: str | None = None) -> list[Op]:
        return [o for o in self.ops if o.f == f and (type_ is None or o.type == type_)]

    def errors(self) -> dict[str, int]:
        """Client-visible errors by status (and problem code), or ``conn`` for a lost
        connection: what an agency's developer would see in their logs."""
        return dict(sorted(Counter(o.error for o in self.ops if o.error).items()))

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(o) for o in self.ops]
