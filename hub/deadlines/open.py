"""The open-deliveries view: one row per delivery still waiting, for the watchdog.

The package processor writes it with the package's other rows (same tracker, so
exactly-once), and deletes a row as soon as its delivery closes. Rows are spread over
``SHARDS`` partitions by package id so that no Cassandra partition grows without bound; the
watchdog reads the shards, which hold only what is still open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.packages.model import PRIORITIES, Delivery, DeliveryState, Package
from hub.ports import Row, RowRef

OPEN = "open_deliveries"
SHARDS = tuple("0123456789abcdef")


@dataclass(frozen=True)
class OpenDelivery:
    package_id: str
    agency_id: str
    code: str
    priority: str
    planned_at: datetime
    deadline: datetime | None
    offline_wait_seconds: int | None
    generation: int
    fetched: bool

    @property
    def order(self) -> tuple[int, datetime, str]:
        """Flash before urgent before normal, then the oldest first."""
        return PRIORITIES.index(self.priority), self.planned_at, self.package_id

    @classmethod
    def from_row(cls, body: dict[str, Any]) -> OpenDelivery:
        """``ValueError``/``KeyError``/``TypeError`` for a row that cannot be read (the
        watchdog sets it aside and goes on with the others)."""
        deadline = body.get("deadline")
        return cls(body["package_id"], body["agency_id"], body["code"], body["priority"],
                   _aware(datetime.fromisoformat(body["planned_at"])),
                   _aware(datetime.fromisoformat(deadline)) if deadline else None,
                   _seconds(body.get("offline_wait_seconds")), int(body.get("generation", 0)),
                   bool(body.get("fetched", False)))


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no time zone")
    return value


def _seconds(value: object) -> int | None:
    """A wait as stored: any whole number (compared in seconds, so never too large);
    anything else reads as no wait."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def shard(package_id: str) -> str:
    return hashlib.sha256(package_id.encode()).hexdigest()[0]


def open_ref(package_id: str, agency_id: str) -> RowRef:
    return RowRef(OPEN, shard(package_id), f"{package_id}|{agency_id}")


def open_row(pkg: Package, delivery: Delivery) -> Row:
    return Row(open_ref(pkg.package_id, delivery.agency_id), {
        "package_id": pkg.package_id, "agency_id": delivery.agency_id, "code": delivery.code,
        "priority": pkg.priority, "planned_at": delivery.planned_at,
        "deadline": delivery.deadline, "offline_wait_seconds": pkg.offline_wait_seconds,
        "generation": delivery.generation,
        "fetched": delivery.state is DeliveryState.FETCHED,
    })
