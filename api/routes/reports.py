"""Operator reports (Điều 5.11, 5.12): per-agency statistics and exchange history under
``/v1/ops``, and an app's own agency statistics at ``/v1/statistics``. Statistics come as
JSON, CSV (UTF-8 with BOM) or XLSX; agency-admins see their own agency only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import responses as r
from api.auth import CurrentApp, CurrentOperator, RuntimeDep
from api.door import DoorRoute
from api.reports import Reports, table
from api.runtime import Runtime
from api.tabular import TABLES, answer
from hub.auth.sessions import require
from hub.errors import NotFound
from hub.history import HistoryQuery
from hub.registry.model import Agency, Operation, Operator
from hub.statistics.query import FORMATS, GRAINS, DateRange, check_choice, date_range
from hub.statistics.report import flat

router = APIRouter(tags=["reports"], route_class=DoorRoute)
From = Annotated[str | None, Query(alias="from", description="First day, YYYY-MM-DD "
                                                             "(hub-local; default today).")]
To = Annotated[str | None, Query(alias="to", description="Last day, inclusive.")]
Format = Annotated[str, Query(alias="format", description=" | ".join(FORMATS))]
Grain = Annotated[str, Query(alias="by", description="day | hour")]


def _reports(runtime: Runtime) -> Reports:
    return Reports(runtime.backend.projections, runtime.settings.tz,
                   runtime.view.registry)


def _span(runtime: Runtime, start: str | None, end: str | None) -> DateRange:
    today = runtime.backend.clock.now().astimezone(runtime.settings.tz).date()
    return date_range(start, end, today)


def _agency(runtime: Runtime, operator: Operator, code: str) -> Agency:
    agency = runtime.view.registry.agency(code)
    if agency is None or not operator.sees(agency.code):
        raise NotFound(f"no agency {code}", code="agency_not_found")
    return agency


def _answer(report: Any, rows: list[dict[str, Any]], fmt: str, name: str) -> Any:
    return answer(report, rows, fmt, title="statistics", filename=name)


async def _one(runtime: Runtime, agency: Agency, *, start: str | None, end: str | None,
               fmt: str, by: str) -> Any:
    check_choice(fmt, FORMATS, "format")
    check_choice(by, GRAINS, "by")
    span = _span(runtime, start, end)
    report = await _reports(runtime).statistics(agency, span, by_hour=by == "hour")
    return _answer(report, table(report), fmt,
                   f"statistics-{agency.code}-{span.start}-{span.end}")


@router.get("/v1/ops/agencies/{code}/statistics", response_model=r.Statistics,
            responses=TABLES)
async def agency_statistics(code: str, operator: CurrentOperator, runtime: RuntimeDep, *,
                            start: From = None, end: To = None, fmt: Format = "json",
                            by: Grain = "day") -> Any:
    """One agency's numbers per day (or hour), and the range's total."""
    return await _one(runtime, _agency(runtime, operator, code), start=start, end=end,
                      fmt=fmt, by=by)


@router.get("/v1/ops/statistics", response_model=r.AllStatistics, responses=TABLES)
async def all_statistics(operator: CurrentOperator, runtime: RuntimeDep, *,
                         start: From = None, end: To = None, fmt: Format = "json") -> Any:
    """Every agency the operator may see: its total over the range and its days."""
    check_choice(fmt, FORMATS, "format")
    span = _span(runtime, start, end)
    agencies = sorted(runtime.view.registry.agencies.values(), key=lambda a: a.code)
    visible = [a for a in agencies if operator.sees(a.code)]
    reports = [await _reports(runtime).statistics(a, span) for a in visible]
    rows = [{"agency": r["agency"], "name": r["name"], **flat(r["total"])} for r in reports]
    return _answer({"from": span.start.isoformat(), "to": span.end.isoformat(),
                    "agencies": reports}, rows, fmt, f"statistics-{span.start}-{span.end}")


@router.get("/v1/ops/agencies/{code}/history", response_model=list[r.HistoryEntry])
async def agency_history(
    code: str, operator: CurrentOperator, runtime: RuntimeDep, *, start: From = None,
    end: To = None, counterpart: str | None = None, status: str | None = None,
    data_type: str | None = None,
    q: Annotated[str | None, Query(description="Title words, accents optional.")] = None,
    document_type: Annotated[str | None, Query(
        description="An edXML document's type name, accents optional.")] = None,
) -> list[dict[str, Any]]:
    """Every package the agency sent or received in the range, with its timeline."""
    agency = _agency(runtime, operator, code)
    span = _span(runtime, start, end)
    query = HistoryQuery(span.start, span.end, counterpart or None, status or None,
                         data_type or None, q or None, document_type or None)
    return await _reports(runtime).history(agency, query)


@router.get("/v1/statistics", response_model=r.Statistics, responses=TABLES)
async def own_statistics(caller: CurrentApp, runtime: RuntimeDep, *, start: From = None,
                         end: To = None, fmt: Format = "json", by: Grain = "day") -> Any:
    """The calling app's own agency's statistics (grant ``read_statistics``)."""
    require(caller, Operation.READ_STATISTICS)
    agency = runtime.view.registry.agency(caller.agency_code)
    if agency is None:
        raise NotFound("the app's agency is not registered", code="agency_not_found")
    return await _one(runtime, agency, start=start, end=end, fmt=fmt, by=by)
