"""`truc admin stats` and `truc admin history`: the operator reports from a shell.

Remote (an operator key in ``TRUC_URL`` / ``TRUC_OPERATOR_*``, as for every admin
command): a signed GET of the same ``/v1/ops`` endpoint. Local: the same reports read
straight from the hub's own projections.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.admin_cli import _remote, open_local, run_or_exit, wide_console
from api.client import TrucClient
from api.reports import Reports, table
from api.runtime import Runtime
from api.tabular import render
from hub.errors import NotFound
from hub.history import HistoryQuery
from hub.statistics.query import FORMATS, date_range

From = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")]
To = Annotated[str | None, typer.Option("--to", help="Last day, inclusive.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register_reports(admin: typer.Typer) -> None:
    admin.command("stats")(stats)
    admin.command("history")(history)


def stats(code: str, start: From = None, end: To = None,
          fmt: Annotated[str, typer.Option("--format", help="json | csv | xlsx")] = "json",
          by: Annotated[str, typer.Option("--by", help="day | hour")] = "day",
          output: Annotated[Path | None, typer.Option("-o", "--output",
                                                      help="File for csv/xlsx.")] = None,
          as_json: Json = False) -> None:
    """An agency's statistics per day (or hour) and in total; CSV/XLSX with -o."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"one of {', '.join(FORMATS)}", param_hint="--format")
    params = {k: v for k, v in {"from": start, "to": end, "format": fmt, "by": by}.items() if v}

    async def local(rt: Runtime) -> Any:
        agency = _agency(rt, code)
        span = date_range(start, end, rt.backend.clock.now().astimezone(rt.settings.tz).date())
        reports = Reports(rt.backend.projections, rt.settings.tz, rt.view.registry)
        report = await reports.statistics(agency, span, by_hour=by == "hour")
        return report if fmt == "json" else render(table(report), fmt, "statistics")[0]

    found = _get(f"/v1/ops/agencies/{code}/statistics", params, local, raw=fmt != "json")
    if fmt != "json":
        target = output or Path(f"statistics-{code}.{fmt}")
        target.write_bytes(found)
        typer.echo(str(target))
    elif as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        _table(table(found), f"statistics {code} {found['from']}..{found['to']}")


def history(code: str, start: From = None, end: To = None,
            counterpart: Annotated[str | None, typer.Option(help="Agency code.")] = None,
            status: Annotated[str | None, typer.Option()] = None,
            data_type: Annotated[str | None, typer.Option()] = None,
            q: Annotated[str | None, typer.Option("-q", help="Title words.")] = None,
            as_json: Json = False,
            document_type: Annotated[str | None, typer.Option(
                help="An edXML document's type name.")] = None) -> None:
    """Packages an agency sent or received, searchable (accents optional)."""
    given = {"from": start, "to": end, "counterpart": counterpart, "status": status,
             "data_type": data_type, "q": q, "document_type": document_type}
    params = {k: v for k, v in given.items() if v}

    async def local(rt: Runtime) -> Any:
        agency = _agency(rt, code)
        span = date_range(start, end, rt.backend.clock.now().astimezone(rt.settings.tz).date())
        query = HistoryQuery(span.start, span.end, counterpart, status, data_type, q,
                             document_type)
        reports = Reports(rt.backend.projections, rt.settings.tz, rt.view.registry)
        return await reports.history(agency, query)

    found = _get(f"/v1/ops/agencies/{code}/history", params, local, raw=False)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        _table([{k: v for k, v in e.items() if k != "timeline"} for e in found],
               f"history {code}")


def _agency(rt: Runtime, code: str) -> Any:
    agency = rt.view.registry.agency(code)
    if agency is None:
        raise NotFound(f"no agency {code}", code="agency_not_found")
    return agency


def _get(path: str, params: dict[str, str], local: Any, *, raw: bool) -> Any:
    remote = _remote()

    async def call() -> Any:
        assert remote is not None
        async with TrucClient(*remote) as hub:
            response = await hub.request("GET", path, params=params)
            return response.content if raw else response.json()

    async def here() -> Any:
        runtime = await open_local()
        try:
            return await local(runtime)
        finally:
            await runtime.close()

    return run_or_exit(call() if remote else here())


def _table(rows: list[dict[str, Any]], title: str) -> None:
    shown = Table(title=title)
    names = list(dict.fromkeys(k for r in rows for k in r))
    for name in names:
        shown.add_column(name, overflow="fold")
    for row in rows:
        shown.add_row(*("" if row.get(n) is None else str(row.get(n)) for n in names))
    wide_console().print(shown)
