"""Sample events for tests, with sensible defaults and unique ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hub import events as ev


def envelope(actor: str = "operator:test") -> ev.Envelope:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).replace(microsecond=123000),
        "actor": actor,
        "correlation_id": str(uuid.uuid4()),
    }


def agency_registered(code: str = "000.00.11.H53", name: str = "Sở Thông tin và Truyền thông",
                      agency_id: str | None = None) -> ev.AgencyRegistered:
    return ev.AgencyRegistered(
        **envelope(),
        agency_id=agency_id or str(uuid.uuid4()),
        code=code,
        name=name,
        parent_code="000.00.00.H02",
        account=f"{code}@truc.gov.vn",
    )


def chunk_stored(package_id: str, index: int) -> ev.ChunkStored:
    return ev.ChunkStored(
        **envelope("app:source"),
        package_id=package_id, index=index, size=1024, sha256="ab" * 32,
    )
