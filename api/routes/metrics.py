"""``GET /metrics`` (Prometheus text format). Not signed, as scrapers expect: it tells
counts, never content; keep it on the operators' network (docs/operating.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.door import DoorRoute
from api.metrics import CONTENT_TYPE, exposition
from api.overview import overview

router = APIRouter(route_class=DoorRoute)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(exposition(await overview(request.app.state.runtime)),
                    media_type=CONTENT_TYPE)
