"""`truc admin …`: operators manage agencies, apps, keys and operators.

Two ways to work, same commands and output:
- **remote**, when ``TRUC_URL``, ``TRUC_OPERATOR_ACCESS_KEY`` and
  ``TRUC_OPERATOR_SECRET_KEY`` hold an operator's key (kept apart from an app's
  ``TRUC_ACCESS_KEY``, so one shell can hold both): every command is a signed call to
  ``/v1/ops`` and the hub records the operator as the actor;
- **local**, otherwise: on the hub's own configuration (its data dir, or its Kafka and
  Cassandra, and its master key). That is how the first operator is made; the actor
  recorded is ``--as`` (default ``cli:$USER``).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from api import views
from api.client import TrucClient
from api.client import TrucError as ClientError
from api.runtime import Runtime
from hub.errors import TrucError
from hub.registry.decisions import Context, overlap_of, parse_grants
from infra.rsa_keys import check_rsa_public_key
from infra.settings import Settings

T = TypeVar("T")
admin = typer.Typer(help="Manage agencies, apps, keys and operators.", no_args_is_help=True)
agency = typer.Typer(help="Agencies (QCVN 102:2016 codes).", no_args_is_help=True)
app_ = typer.Typer(help="Integrating apps: registered → approved → revoked.",
                   no_args_is_help=True)
key = typer.Typer(help="Key pairs.", no_args_is_help=True)
operator = typer.Typer(help="Operators of the hub.", no_args_is_help=True)
admin.add_typer(agency, name="agency")
admin.add_typer(app_, name="app")
admin.add_typer(key, name="key")
admin.add_typer(operator, name="operator")

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Actor = Annotated[str | None, typer.Option("--as", help="Who acts (recorded in events).")]
DataDir = Annotated[Path | None, typer.Option(
    help="Where the embedded hub keeps its data (default ./truc-data, TRUC_DATA_DIR).")]
Kafka = Annotated[str | None, typer.Option(help="Kafka bootstrap servers (host:port,...).")]
Cassandra = Annotated[str | None, typer.Option(help="Cassandra contact points (host:port,...).")]
LOCAL_FLAGS = ("--data-dir", "--kafka", "--cassandra")
_where: dict[str, Any] = {}


@admin.callback()
def _hub(data_dir: DataDir = None, kafka: Kafka = None, cassandra: Cassandra = None) -> None:
    """Manage agencies, apps, keys and operators: on a remote hub (TRUC_URL and an
    operator's key), or locally on the hub's data (--data-dir, or --kafka and --cassandra;
    they may also follow the command: `truc admin agency list --data-dir D`)."""
    _where.update(data_dir=data_dir, kafka=kafka, cassandra=cassandra)


def hoist_local_flags(args: list[str]) -> list[str]:
    """``truc admin agency add … --data-dir D`` as ``truc admin --data-dir D agency add …``:
    the flags belong to ``admin`` but are written where the other commands take them."""
    if not args or args[0] != "admin":
        return args
    hoisted, rest, items = [], [], iter(args[1:])
    for item in items:
        name = item.split("=", 1)[0]
        if name in LOCAL_FLAGS:
            hoisted.append(item)
            if "=" not in item:
                hoisted.append(next(items, ""))
        else:
            rest.append(item)
    return ["admin", *hoisted, *rest]


def local_settings() -> Settings:
    """The hub the local commands work on; never a new one made by mistake: with no hub
    data where it looks, a local command stops (the hub makes its data on first start)."""
    try:
        settings = Settings(**{k: v for k, v in _where.items() if v is not None})
        settings.check()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not settings.distributed and not settings.sqlite_path.exists():
        where = settings.data_dir
        shown = where if where.is_absolute() else f"./{where}"
        typer.echo(f"error: no hub data in {shown}; pass --data-dir or set TRUC_DATA_DIR "
                   "(or --kafka and --cassandra for a distributed hub). The hub makes its "
                   "data on its first start (`truc serve`, `make run`).", err=True)
        raise typer.Exit(2)
    return settings


async def open_local() -> Runtime:
    """A runtime on the hub's own data, with no processors, and no new master key."""
    return await Runtime.open(local_settings(), run_processors=False, create_key=False)


def _remote() -> tuple[str, str, str] | None:
    names = ("URL", "OPERATOR_ACCESS_KEY", "OPERATOR_SECRET_KEY")
    found = [os.environ.get(f"TRUC_{n}") for n in names]
    url, access_key, secret_key = found
    return (url, access_key, secret_key) if url and access_key and secret_key else None


def _do(work: Callable[[Runtime, Context], Awaitable[T]], actor: str | None,
        method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Runs ``work`` locally, or the equivalent call on a remote hub."""
    remote = _remote()
    if remote is None:
        return _run(work, actor)

    async def call() -> Any:
        async with TrucClient(*remote) as hub:
            return await hub.call(method, path, json_body=body)

    return run_or_exit(call())


def run_or_exit(work: Coroutine[Any, Any, T]) -> T:
    """Runs one CLI command's work; any refusal, local or from a remote hub, becomes a
    one-line message and exit status 2 (never a traceback)."""
    try:
        return asyncio.run(work)
    except ClientError as exc:
        typer.echo(f"error [{exc.code}]: {exc.problem.get('detail', '')}", err=True)
        raise typer.Exit(2) from None
    except TrucError as exc:
        typer.echo(f"error [{exc.code}]: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _run(work: Callable[[Runtime, Context], Awaitable[T]], actor: str | None) -> T:
    async def go() -> T:
        runtime = await open_local()
        try:
            ctx = Context(actor or f"cli:{getpass.getuser()}", runtime.backend.clock.now(),
                          str(uuid.uuid4()))
            return await work(runtime, ctx)
        finally:
            await runtime.close()

    return run_or_exit(go())


def wide_console() -> Console:
    """A terminal's own width; piped or redirected, wide enough for a row on one line
    (rich assumes 80 columns then, and folded ids are hard to copy)."""
    return Console() if sys.stdout.isatty() else Console(width=240)


def _show(data: Any, as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    rows = data if isinstance(data, list) else [data]
    table = Table(title=title)
    columns = [k for k in (rows[0] if rows else {}) if not isinstance(rows[0][k], dict | list)]
    for column in columns:
        table.add_column(column, overflow="fold")  # codes and ids whole, never "000.00.1…"
    for row in rows:
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
    wide_console().print(table)
    for row in rows:
        if isinstance(row.get("key"), dict) and row["key"].get("secret_key"):
            Console().print("[bold]secret_key (shown once):[/bold] " + row["key"]["secret_key"])
            Console().print("access_key: " + row["key"]["access_key"])


@agency.command("add")
def agency_add(code: str, name: Annotated[str, typer.Option(help="Agency name.")],
               as_json: Json = False, actor: Actor = None) -> None:
    """Register an agency by its code."""
    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        return views.agency(await rt.registry.add_agency(ctx, code, name))

    _show(_do(work, actor, "POST", "/v1/ops/agencies", {"code": code, "name": name}),
          as_json, "agency")


@agency.command("list")
def agency_list(as_json: Json = False) -> None:
    """Every registered agency."""
    async def work(rt: Runtime, _: Context) -> list[dict[str, Any]]:
        return [views.agency(a) for a in sorted(rt.view.registry.agencies.values(),
                                                key=lambda a: a.code)]

    _show(_do(work, None, "GET", "/v1/ops/agencies"), as_json, "agencies")


@agency.command("signing")
def agency_signing(code: str, signing: Annotated[str, typer.Argument(
                       help="required (edXML documents must carry a valid XML signature) "
                            "or optional.")],
                   certificate: Annotated[list[str] | None, typer.Option(
                       help="With required: the SHA-256 of a certificate the agency signs "
                            "with (repeat for each); none: any certificate.")] = None,
                   as_json: Json = False, actor: Actor = None) -> None:
    """Require signed edXML documents from an agency, or no longer (audited)."""
    trusted = list(certificate or [])

    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        return views.agency(await rt.registry.set_signing(ctx, code, signing, trusted))

    _show(_do(work, actor, "PUT", f"/v1/ops/agencies/{code}/signing",
              {"signing": signing, "certificates": trusted}), as_json, "agency")


@app_.command("add")
def app_add(agency_code: Annotated[str, typer.Option("--agency", help="Agency code.")],
            name: Annotated[str, typer.Option(help="App name.")],
            rsa_public_key: Annotated[Path | None, typer.Option(
                help="PEM file of the app's RSA public key (RSA signing).")] = None,
            as_json: Json = False, actor: Actor = None) -> None:
    """Register an app of an agency (form 01/02); it can do nothing until approved."""
    pem = rsa_public_key.read_text() if rsa_public_key else None
    if pem:
        check_rsa_public_key(pem)

    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        return views.app(await rt.registry.add_app(ctx, agency_code, name, pem), rt.view)

    body = {"agency_code": agency_code, "name": name, "rsa_public_key_pem": pem}
    _show(_do(work, actor, "POST", "/v1/ops/apps", body), as_json, "app")


@app_.command("list")
def app_list(agency_code: Annotated[str | None, typer.Option("--agency")] = None,
             as_json: Json = False) -> None:
    """Apps, of one agency or all."""
    async def work(rt: Runtime, _: Context) -> list[dict[str, Any]]:
        return [views.app(a, rt.view) for a in rt.view.registry.apps.values()]

    apps = _do(work, None, "GET", "/v1/ops/apps")
    _show([a for a in apps if agency_code in (None, a["agency_code"])], as_json, "apps")


@app_.command("approve")
def app_approve(
    app_id: str,
    grant: Annotated[list[str] | None, typer.Option(
        help="An operation: send, receive, report_status, read_statistics (default all).")
    ] = None,
    destination: Annotated[list[str] | None, typer.Option(
        help="An agency code it may send to (default any).")] = None,
    data_type: Annotated[list[str] | None, typer.Option(
        help="A data type it may send (default any).")] = None,
    as_json: Json = False, actor: Actor = None,
) -> None:
    """Approve an app and issue its key (the secret is shown once)."""
    grants = parse_grants(grant or [], destination or [], data_type or [])

    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        approved, new_key = await rt.registry.approve_app(ctx, app_id, grants)
        return {**views.app(approved, rt.view), "key": views.new_key(new_key)}

    body = {"operations": sorted(grants.operations), "destinations": sorted(grants.destinations),
            "data_types": sorted(grants.data_types)}
    _show(_do(work, actor, "POST", f"/v1/ops/apps/{app_id}/approve", body), as_json,
          "approved app")


@app_.command("revoke")
def app_revoke(app_id: str, reason: Annotated[str, typer.Option()] = "revoked by operator",
               as_json: Json = False, actor: Actor = None) -> None:
    """Revoke an app (form 06/07): its keys are refused at once on every node."""
    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        return views.app(await rt.registry.revoke_app(ctx, app_id, reason), rt.view)

    _show(_do(work, actor, "POST", f"/v1/ops/apps/{app_id}/revoke", {"reason": reason}),
          as_json, "revoked app")


@key.command("rotate")
def key_rotate(principal_id: str,
               overlap_hours: Annotated[float | None, typer.Option(
                   help="How long the old key keeps working.")] = None,
               as_json: Json = False, actor: Actor = None) -> None:
    """Issue a new key for an app or operator; the old one works for the overlap."""
    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        hours = rt.settings.key_overlap_hours if overlap_hours is None else overlap_hours
        new_key = await rt.registry.rotate_key(ctx, principal_id, overlap_of(hours))
        return {"principal_id": principal_id, "key": views.new_key(new_key)}

    _show(_do(work, actor, "POST", f"/v1/ops/principals/{principal_id}/keys",
              {"overlap_hours": overlap_hours}), as_json, "new key")


@operator.command("add")
def operator_add(name: str, role: Annotated[str, typer.Option(
                     help="admin, auditor or agency-admin.")],
                 agency_code: Annotated[str | None, typer.Option(
                     "--agency", help="For agency-admin: the agency.")] = None,
                 as_json: Json = False, actor: Actor = None) -> None:
    """Register an operator and issue its key (the secret is shown once)."""
    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        op, new_key = await rt.registry.add_operator(ctx, name, role, agency_code)
        return {**views.operator(op), "key": views.new_key(new_key)}

    body = {"name": name, "role": role, "agency_code": agency_code}
    _show(_do(work, actor, "POST", "/v1/ops/operators", body), as_json, "operator")


@operator.command("list")
def operator_list(as_json: Json = False) -> None:
    """Every operator."""
    async def work(rt: Runtime, _: Context) -> list[dict[str, Any]]:
        return [views.operator(o) for o in rt.view.registry.operators.values()]

    _show(_do(work, None, "GET", "/v1/ops/operators"), as_json, "operators")


@admin.command("presence")
def presence(as_json: Json = False) -> None:
    """Which agencies are online now, since when, through how many connections."""
    from api.routes.presence import all_presence_of

    async def work(rt: Runtime, _: Context) -> list[dict[str, Any]]:
        return await all_presence_of(rt, lambda _agency: True)

    rows = _do(work, None, "GET", "/v1/ops/presence")
    if not as_json:  # a terminal-wide table: the columns an operator scans
        rows = [{"agency": r["agency_code"], "name": r.get("name") or "",
                 "online": "yes" if r["online"] else "no",
                 "since": r["since"] or "never", "connections": r["connections"],
                 "nodes": " ".join(r["nodes"])} for r in rows]
    _show(rows, as_json, "presence")


@admin.command("dead-letters")
def dead_letters_list(
        limit: Annotated[int, typer.Option(help="List at most this many.")] = 100,
        as_json: Json = False) -> None:
    """Events the processors set aside because they can never apply (see
    docs/operating.md, *Dead letters*): processor, position, event type, error."""
    from streams.dead_letters import dead_letters

    async def work(rt: Runtime, _: Context) -> dict[str, Any]:
        letters = await dead_letters(rt.backend.projections)
        return {"count": len(letters), "dead_letters": letters[:limit]}

    found = _do(work, None, "GET", f"/v1/ops/dead-letters?limit={limit}")
    if as_json:
        _show(found, True, "dead letters")
        return
    rows = [{"processor": d["processor"], "where": _letter_place(d),
             "event": d.get("event_type") or "", "error": f"{d['error_type']}: {d['error']}",
             "first_seen": d["first_seen"]} for d in found["dead_letters"]]
    _show(rows, False, f"dead letters ({found['count']})")


def _letter_place(letter: dict[str, Any]) -> str:
    """topic/partition@offset for an event, view/partition/key for a row."""
    if "topic" in letter:
        return f"{letter['topic']}/{letter['partition']}@{letter['offset']}"
    return f"{letter['view']}/{letter['view_partition']}/{letter['row_key']}"
