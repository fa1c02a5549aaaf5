"""`truc admin zone …`: the routing table to other zones' hubs (``hub.zones``).

Like every admin command: remote with an operator's key (``/v1/ops/zones``), or local on
the hub's data. The peer's secret key is read from ``--secret-key`` or, better kept out
of the shell's history, ``TRUC_ZONE_SECRET_KEY``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from api.admin_cli import Actor, Json, _do, wide_console
from api.routes.zones import zone_route, zone_view
from api.runtime import Runtime
from hub.registry.decisions import Context

zone = typer.Typer(help="Zones: other provinces' hubs and the codes they serve.",
                   no_args_is_help=True)



def register_zones(admin: typer.Typer) -> None:
    admin.add_typer(zone, name="zone")


@zone.command("set")
def zone_set(
    name: Annotated[str, typer.Argument(help="The zone's name here (hcm, ha-noi…).")],
    url: Annotated[str, typer.Option(
        help="The peer hub's base URL (axis: the national axis's endpoint).")] = "",
    access_key: Annotated[str, typer.Option(
        help="This hub's access key on the peer (axis: its systemid).")] = "",
    secret_key: Annotated[str | None, typer.Option(
        envvar="TRUC_ZONE_SECRET_KEY",
        help="Its secret key (required for a new zone; kept when left out).")] = None,
    code: Annotated[list[str] | None, typer.Option(
        "--code", help="An agency code routed there (repeatable).")] = None,
    branch: Annotated[list[str] | None, typer.Option(
        "--branch", help="A code routed with every code under it (repeatable).")] = None,
    province: Annotated[list[str] | None, typer.Option(
        "--province", help="A level-1 code, e.g. H29: the whole province (repeatable).")]
        = None,
    protocol: Annotated[str, typer.Option(
        help="truc (a peer hub), axis (the upstream national axis: the default route), "
             "held (this hub is that zone's axis).")] = "truc",
    local_key: Annotated[str, typer.Option(
        help="axis: the access key of the app here incoming documents come from; held: "
             "of the app that zone's hub is here.")] = "",
    as_json: Json = False, actor: Actor = None,
) -> None:
    """Set a zone whole: its hub, this hub's key there, and the codes it serves."""
    codes, branches, provinces = code or [], branch or [], province or []

    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        found = await rt.registry.configure_zone(ctx, name, url, access_key, secret_key,
                                                 codes=codes, branches=branches,
                                                 provinces=provinces, protocol=protocol,
                                                 local_key=local_key)
        return zone_view(found).model_dump()

    body = {"url": url, "access_key": access_key, "secret_key": secret_key,
            "codes": codes, "branches": branches, "provinces": provinces,
            "protocol": protocol, "local_key": local_key}
    _print([_do(work, actor, "PUT", f"/v1/ops/zones/{quote(name, safe='')}", body)],
           as_json)


@zone.command("list")
def zone_list(as_json: Json = False) -> None:
    """The routing table (secrets are never shown)."""
    async def work(rt: Runtime, _: Context) -> list[dict[str, Any]]:
        zones = rt.view.registry.zones
        return [zone_view(zones[n]).model_dump() for n in sorted(zones)]

    _print(_do(work, None, "GET", "/v1/ops/zones"), as_json)


@zone.command("remove")
def zone_remove(name: str, reason: Annotated[str, typer.Option(help="Why.")] =
                "removed by an operator", as_json: Json = False, actor: Actor = None) -> None:
    """Forward nothing more to this zone."""
    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        await rt.registry.remove_zone(ctx, name, reason)
        return {"zone": name, "removed": True}

    path = f"/v1/ops/zones/{quote(name, safe='')}?reason={quote(reason, safe='')}"
    result = _do(work, actor, "DELETE", path)
    typer.echo(json.dumps(result) if as_json else f"zone {name} removed")


@zone.command("route")
def zone_route_cmd(code: str, as_json: Json = False) -> None:
    """Where a code goes: local, a zone (and which pattern), or nowhere."""
    async def work(rt: Runtime, _: Context) -> dict[str, Any]:
        return zone_route(rt.view.registry, code).model_dump()

    found = _do(work, None, "GET", f"/v1/ops/zones/route/{quote(code, safe='')}")
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    elif found["local"]:
        typer.echo(f"{code}: local (registered on this hub)")
    elif found["zone"]:
        typer.echo(f"{code}: zone {found['zone']} ({found['kind']} {found['pattern']})")
    else:
        typer.echo(f"{code}: no route (neither registered here nor in a zone)")


def _print(zones: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(zones, ensure_ascii=False, indent=2))
        return

    table = Table(title="zones")
    for column in ("zone", "protocol", "url", "access_key", "serves"):
        table.add_column(column, overflow="fold")
    for z in zones:
        serves = [*z["codes"], *(f"{b} (branch)" for b in z["branches"]),
                  *(f"{p} (province)" for p in z["provinces"])]
        if z.get("protocol") == "axis":
            serves.append("* (every code no zone claims)")
        table.add_row(z["zone"], z.get("protocol", "truc"), z["url"], z["access_key"],
                      ", ".join(serves))
    wide_console().print(table)
