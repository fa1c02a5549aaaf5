"""The console's read pages: dashboard, agencies, packages, audit."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api import overview as ov
from api.console import HERE
from api.console.web import page, runtime_of, session, visible
from api.door import DoorRoute
from api.reports import Reports, table
from api.routes.presence import all_presence_of
from api.tabular import render
from hub.audit import verify
from hub.errors import InvalidRequest, NotFound
from hub.events import AuditLinked
from hub.history import STATE, HistoryQuery
from hub.package_search import PackageSearch
from hub.ports import RowRef
from hub.presence.model import HISTORY, PRESENCE
from hub.presence.queries import presence_of
from hub.registry.model import Agency, Role
from hub.statistics.query import DateRange
from hub.text import fold
from hub.topics import REGISTRY

router = APIRouter(include_in_schema=False, route_class=DoorRoute)
assets = APIRouter(include_in_schema=False)
"""The console's static files: GETs with no body and no session, outside the door as the
API's documentation pages are."""
EXPIRING = timedelta(hours=24)
ASSETS = {p.name: p for p in (HERE / "static").iterdir() if p.suffix in (".css", ".js")}
"""The console's own files, served by name from this list (no path from the request ever
reaches the file system), cached for an hour."""


@assets.get("/console/static/{name}")
async def asset(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        raise NotFound(f"no asset {name}")
    return FileResponse(found, headers={"cache-control": "max-age=3600"})


@router.get("/console", response_class=HTMLResponse)
async def dashboard(request: Request) -> Response:
    current = session(request)
    runtime = runtime_of(request)
    shown = visible(runtime, current)
    seen = await ov.overview(runtime, shown)
    today = ov.today_of(runtime)
    week = await ov.sent_per_hour(runtime, shown, DateRange(today - timedelta(days=6), today))
    hours, days = week[today], sorted(week)
    per_day = [sum(week[d]) for d in days]
    waiting, soon = await _open_deliveries(runtime, shown)
    return page(request, "dashboard.html", current, seen=seen, hours=hours,
                days=[(d.isoformat()[5:], n) for d, n in zip(days, per_day, strict=True)],
                waiting=waiting, soon=soon,
                failures=seen.packages.get("rejected", 0) + seen.deliveries.get("expired", 0),
                dead=sum(seen.dead_letters.values()),
                lag=sum(item.behind for item in seen.lags))


async def _open_deliveries(runtime: Any, shown: list[Agency]) -> tuple[int, int]:
    """Deliveries waiting to be fetched, and those whose deadline is within a day."""
    now = runtime.backend.clock.now()
    waiting = soon = 0
    for agency in shown:
        for row in await ov.recent_history(runtime, agency, ov.today_of(runtime)):
            if row["direction"] != "received" or row["status"] not in ov.OPEN_DELIVERY:
                continue
            waiting += 1
            state = await runtime.backend.projections.get(RowRef(STATE, row["package_id"], ""))
            delivery = (state.body.get("deliveries", {}) if state else {}).get(agency.agency_id)
            deadline = (delivery or {}).get("deadline")
            soon += bool(deadline and deadline <= (now + EXPIRING).isoformat())
    return waiting, soon


@router.get("/console/agencies", response_class=HTMLResponse)
async def agencies(request: Request, q: str = "") -> Response:
    current = session(request)
    runtime = runtime_of(request)
    words = fold(q).split()
    listed = await all_presence_of(runtime, lambda a: current.operator.sees(a.code))
    found = [a for a in listed
             if all(w in fold(f"{a['agency_code']} {a['name']}") for w in words)]
    return page(request, "agencies.html", current, agencies=found, q=q)


def _agency(request: Request, code: str) -> tuple[Any, Agency]:
    current = session(request)
    agency = runtime_of(request).view.registry.agency(code)
    if agency is None or not current.operator.sees(agency.code):
        raise NotFound(f"no agency {code}", code="agency_not_found")
    return current, agency


@router.get("/console/agencies/{code}", response_class=HTMLResponse)
async def agency(request: Request, code: str) -> Response:
    current, found = _agency(request, code)
    runtime = runtime_of(request)
    rows = await runtime.backend.projections.scan(PRESENCE, found.agency_id)
    now = presence_of(found, ((r.ref.key, r.body) for r in rows))
    history = [dict(r.body) for r in
               await runtime.backend.projections.scan(HISTORY, found.agency_id)][-50:]
    report = await _week(runtime, found)
    apps = runtime.view.registry.apps_of(found.agency_id)
    return page(request, "agency.html", current, agency=found, presence=now,
                history=history, report=report, apps=apps,
                app_names={a.app_id: a.name for a in apps})


async def _week(runtime: Any, agency: Agency) -> dict[str, Any]:
    today = ov.today_of(runtime)
    span = DateRange(today - timedelta(days=6), today)
    return await Reports(runtime.backend.projections, runtime.settings.tz).statistics(
        agency, span)


@router.get("/console/agencies/{code}/statistics.{fmt}")
async def agency_report(request: Request, code: str, fmt: str) -> Response:
    """The agency's last 7 days as CSV or XLSX (the same rows as ``truc admin stats``)."""
    _, found = _agency(request, code)
    if fmt not in ("csv", "xlsx"):
        raise InvalidRequest("format is csv or xlsx", code="invalid_format")
    report = await _week(runtime_of(request), found)
    body, media = render(table(report), fmt, "statistics")
    name = f"statistics-{found.code}-{report['from']}-{report['to']}.{fmt}"
    return Response(body, media_type=media,
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get("/console/packages", response_class=HTMLResponse)
async def packages(request: Request, *, q: str = "", id: str = "", sender: str = "",
                   recipient: str = "", since: str = "", until: str = "",
                   days: int = 31) -> Response:
    """Packages by id, title or number/notation (accents optional), sender, recipient
    and date range (default: the last ``days`` days), newest first."""
    current = session(request)
    runtime = runtime_of(request)
    if id.strip():
        return RedirectResponse(f"/console/packages/{id.strip()}", status_code=303)
    today = ov.today_of(runtime)
    end = _day(until, "until") or today
    start = _day(since, "since") or end - timedelta(days=max(0, min(days, 366)))
    if start > end or (end - start).days > 366:
        raise InvalidRequest("a date range is at most 366 days, 'since' first",
                             code="invalid_date_range")
    query = HistoryQuery(start, end, text=q or None)
    search = PackageSearch.of(runtime.view.registry, sender, recipient)
    reports = Reports(runtime.backend.projections, runtime.settings.tz)
    found: dict[str, dict[str, Any]] = {}
    for a in search.agencies(visible(runtime, current)):
        for row in await reports.history(a, query):
            if search.matches(row, a):
                found.setdefault(row["package_id"], {**row, "recipients": row["counterparts"]
                                                     if row["direction"] == "sent"
                                                     else [a.code]})
    listed = sorted(found.values(), key=lambda r: r["requested_at"], reverse=True)[:200]
    return page(request, "packages.html", current, packages=listed, q=q, sender=sender,
                recipient=recipient, since=start.isoformat(), until=end.isoformat())


def _day(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"{name} is a date, YYYY-MM-DD", code="invalid_date",
                             field=name) from None


@router.get("/console/packages/{package_id}", response_class=HTMLResponse)
async def package(request: Request, package_id: str) -> Response:
    current = session(request)
    runtime = runtime_of(request)
    row = await runtime.backend.projections.get(RowRef(STATE, package_id, ""))
    body = dict(row.body) if row is not None else None
    if body is not None:
        codes = {body["source_code"], *(d["code"] for d in body["deliveries"].values())}
        if not any(current.operator.sees(c) for c in codes):
            body = None
    return page(request, "package.html", current, pkg=body, package_id=package_id,
                status_code=404 if body is None else 200)


@router.get("/console/audit", response_class=HTMLResponse)
async def audit(request: Request) -> Response:
    """Every registry change, newest first, with who made it (operator or CLI user)."""
    current = session(request)
    runtime = runtime_of(request)
    registry = runtime.view.registry
    names = {o.operator_id: o.name for o in registry.operators.values()}
    entries: list[dict[str, Any]] = []
    chained: list[tuple[int, int, Any]] = []
    async for recorded in runtime.backend.events.read(REGISTRY):
        event = recorded.event
        chained.append((recorded.position.partition, recorded.position.offset, event))
        if isinstance(event, AuditLinked):
            continue
        code = getattr(event, "agency_code", None) or getattr(event, "code", None)
        if current.operator.role is Role.AGENCY_ADMIN and code != current.operator.agency_code:
            continue
        entries.append({"at": event.occurred_at.isoformat(timespec="seconds"),
                        "actor": names.get(event.actor, event.actor),
                        "action": type(event).__name__, "detail": _detail(event)})
    verdict = verify(chained) if current.operator.role is not Role.AGENCY_ADMIN else None
    return page(request, "audit.html", current, entries=entries[::-1][:500], verdict=verdict)


def _detail(event: Any) -> str:
    shown = ("code", "name", "agency_code", "app_id", "role", "reason", "access_key")
    return ", ".join(f"{k}={getattr(event, k)}" for k in shown
                     if getattr(event, k, None) not in (None, ""))


@router.get("/console/alerts", response_class=HTMLResponse)
async def alerts(request: Request) -> Response:
    """The alerts raised (newest first) with each contact's state, and who is told when."""
    from api.routes.alerts import alerts_seen, policy_view

    current = session(request)
    runtime = runtime_of(request)
    registry = runtime.view.registry
    policies = [policy_view(runtime, a, p) for a, p in sorted(registry.alerts.items())
                if a in registry.agencies and current.operator.sees(registry.agencies[a].code)]
    raised = await alerts_seen(runtime, current.operator.sees)
    return page(request, "alerts.html", current, alerts=raised[:500],
                policies=sorted(policies, key=lambda p: p["agency_code"]),
                agencies=visible(runtime, current))
