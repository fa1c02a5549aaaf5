"""`GET /v1/ops/dead-letters`: what the processors set aside (``streams/dead_letters.py``).

Admins and auditors only: a dead letter may hold an event's raw bytes, whichever agency
it concerns, so an agency-admin gets 404 as for any hub-wide listing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import responses as r
from api.auth import CurrentOperator, RuntimeDep
from api.door import DoorRoute
from api.problems import responses
from hub.errors import NotFound
from hub.registry.model import Role
from streams.dead_letters import dead_letters

router = APIRouter(prefix="/v1/ops", tags=["operators"], route_class=DoorRoute)


@router.get("/dead-letters", response_model=r.DeadLetters, responses=responses(404))
async def list_dead_letters(operator: CurrentOperator, runtime: RuntimeDep,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 100
                            ) -> dict[str, Any]:
    """Every dead letter counted, the first ``limit`` listed (by processor, position)."""
    if operator.role is Role.AGENCY_ADMIN:
        raise NotFound("no such resource")
    letters = await dead_letters(runtime.backend.projections)
    return {"count": len(letters), "dead_letters": letters[:limit]}
