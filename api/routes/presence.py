"""Presence queries (Điều 5.9, 5.11): who is online, and every agency's connection history.

Apps read the presence of their own agency and of agencies they may send to; operators
read every agency's (agency-admins their own). Unknown and invisible agencies are both 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import responses as r
from api.auth import CurrentApp, CurrentOperator, RuntimeDep
from api.door import DoorRoute
from api.runtime import Runtime
from api.tabular import FORMATS, TABLES, answer
from hub.errors import NotFound
from hub.presence import queries
from hub.presence.model import ALL, HISTORY, INDEX, PRESENCE
from hub.registry.model import Agency
from hub.statistics.query import check_choice

router = APIRouter(prefix="/v1", tags=["presence"], route_class=DoorRoute)


def _agency(runtime: Runtime, code: str) -> Agency:
    agency = runtime.view.registry.agency(code)
    if agency is None:
        raise NotFound(f"no agency {code}", code="agency_not_found")
    return agency


async def _presence(runtime: Runtime, agency: Agency) -> dict[str, Any]:
    rows = await runtime.backend.projections.scan(PRESENCE, agency.agency_id)
    return queries.presence_of(agency, ((r.ref.key, r.body) for r in rows))


@router.get("/directory/{code}/presence", response_model=r.AgencyPresenceView)
async def directory_presence(code: str, caller: CurrentApp, runtime: RuntimeDep
                             ) -> dict[str, Any]:
    """Whether an agency is online now, since when, and through which apps and nodes."""
    agency = runtime.view.registry.agency(code)
    if agency is None or not queries.may_see(caller.app, agency):
        raise NotFound(f"no agency {code} you may see", code="agency_not_found")
    return await _presence(runtime, agency)


@router.get("/ops/presence", response_model=list[r.Presence])
async def all_presence(operator: CurrentOperator, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Every agency's presence summary (offline ones too), by code."""
    return await all_presence_of(runtime, lambda a: operator.sees(a.code))


async def all_presence_of(runtime: Runtime, visible: Callable[[Agency], bool]
                          ) -> list[dict[str, Any]]:
    index = {r.ref.key: r.body for r in await runtime.backend.projections.scan(INDEX, ALL)}
    agencies = [a for a in runtime.view.registry.agencies.values() if visible(a)]
    return queries.listing(agencies, index)


@router.get("/ops/agencies/{code}/presence", response_model=r.AgencyPresenceView)
async def agency_presence(code: str, operator: CurrentOperator, runtime: RuntimeDep
                          ) -> dict[str, Any]:
    agency = _agency(runtime, code)
    if not operator.sees(agency.code):
        raise NotFound(f"no agency {code}", code="agency_not_found")
    return await _presence(runtime, agency)


@router.get("/ops/agencies/{code}/connections", response_model=list[r.Connection],
            responses=TABLES)
async def connection_history(  # noqa: PLR0917 — FastAPI passes them by name
    code: str, operator: CurrentOperator, runtime: RuntimeDep,
    start: Annotated[str | None, Query(alias="from", description="ISO-8601, inclusive")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO-8601, exclusive")] = None,
    fmt: Annotated[str, Query(alias="format", description="json | csv | xlsx")] = "json",
) -> Any:
    """Every connect and disconnect of the agency's apps, oldest first, with durations;
    as JSON (a list), or a CSV/XLSX attachment for a date range."""
    check_choice(fmt, FORMATS, "format")
    lower, upper = queries.parse_bound(start, "from"), queries.parse_bound(end, "to")
    agency = _agency(runtime, code)
    if not operator.sees(agency.code):
        raise NotFound(f"no agency {code}", code="agency_not_found")
    rows = await runtime.backend.projections.scan(HISTORY, agency.agency_id)
    history = [{**row, "agency_code": agency.code}
               for row in queries.history_between((r.body for r in rows), lower, upper)]
    return answer(history, history, fmt, title="connections",
                  filename=f"connections-{agency.code}")
