"""Abandoned upload spaces: a package never sealed must not keep its chunks for ever.

A space is granted for ``space_ttl``; after that no chunk or seal is accepted. Without a
sweep, a source that gives up halfway leaves encrypted chunks on the hub indefinitely,
against the rule that content lives only as long as its exchange. The package processor
keeps one ``open_spaces`` row per package still uploading (deleted at seal or rejection);
the watchdog rejects each one whose space expired more than ``grace`` ago with
``PackageRejected(space_expired)``, and the shredder then destroys what was uploaded.

The grace covers a seal that was accepted just before expiry and is still reading the
content back for its digest: its ``PackageSealed`` lands first, and the fold ignores a
rejection of a sealed package anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub import events as ev
from hub.deadlines.open import shard
from hub.packages.model import Package
from hub.ports import Row, RowRef

OPEN_SPACES = "open_spaces"
REASON = "space_expired"
_NAMESPACE = uuid.UUID("1e0b7f62-55d4-4f4b-8f5e-3c8d2a7a61c4")


@dataclass(frozen=True)
class OpenSpace:
    package_id: str
    expires_at: datetime
    correlation_id: str

    @classmethod
    def from_row(cls, body: dict[str, Any]) -> OpenSpace:
        return cls(body["package_id"], datetime.fromisoformat(body["expires_at"]),
                   body.get("correlation_id") or body["package_id"])


def space_ref(package_id: str) -> RowRef:
    return RowRef(OPEN_SPACES, shard(package_id), package_id)


def space_row(pkg: Package, correlation_id: str) -> Row:
    assert pkg.space_expires_at is not None
    return Row(space_ref(pkg.package_id), {"package_id": pkg.package_id,
                                           "expires_at": pkg.space_expires_at,
                                           "correlation_id": correlation_id})


def abandoned(spaces: Iterable[OpenSpace], now: datetime,
              grace: timedelta) -> list[ev.PackageRejected]:
    """One rejection per space expired more than ``grace`` ago, oldest first. Its id is
    derived from the package, so two watchdogs deciding it record the same event."""
    due = sorted((s for s in spaces if now - grace >= s.expires_at),  # never overflows
                 key=lambda s: (s.expires_at, s.package_id))
    return [ev.PackageRejected(
        event_id=str(uuid.uuid5(_NAMESPACE, s.package_id)), occurred_at=now,
        actor="hub:watchdog", correlation_id=s.correlation_id, package_id=s.package_id,
        reason_code=REASON,
        reason=f"the upload space expired at {s.expires_at.isoformat()} before the package "
               "was sealed; what was uploaded is destroyed") for s in due]
