"""`truc admin succession add` and `truc admin directory sync`: codes as history.

``succession add`` works like every admin command: remote (an operator key, a signed
``POST /v1/ops/successions``) or local on the hub's data. ``directory sync`` reads a
national agency list where the hub's data is (local: ``--data-dir``, or ``--kafka`` and
``--cassandra``), streaming it, and prints the diff; ``--apply`` records it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from api.admin_cli import Actor, Json, _do, _run, _show
from api.exchange_cli import iso_time
from api.routes.directory import succession_view
from api.runtime import Runtime
from hub.registry.decisions import Context
from hub.registry.sync import row_of
from infra.national_list import BadList, read_rows

succession = typer.Typer(help="Codes closed and who carries on (re-codes, merges).",
                         no_args_is_help=True)
directory = typer.Typer(help="The agency directory: sync from the national list.",
                        no_args_is_help=True)


def register_directory(admin: typer.Typer) -> None:
    admin.add_typer(succession, name="succession")
    admin.add_typer(directory, name="directory")


@succession.command("add")
def succession_add(
    old_codes: Annotated[list[str], typer.Argument(help="The codes that close.")],
    to: Annotated[str, typer.Option("--to", help="The code the agency carries on under.")],
    reason: Annotated[str, typer.Option(help="The decision that closed the codes.")],
    effective: Annotated[str | None, typer.Option(
        help="When it took effect (ISO 8601; default now; never in the future).")] = None,
    name: Annotated[str | None, typer.Option(help="The successor's new name.")] = None,
    as_json: Json = False, actor: Actor = None,
) -> None:
    """Close OLD_CODES: one code re-codes its agency; several merge into the agency that
    holds --to (or the first old one's). Old codes reach the successor from then on."""
    stated = iso_time(effective)
    given = datetime.fromisoformat(stated) if stated else None

    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        agency = await rt.registry.succeed(ctx, old_codes, to, effective_at=given or ctx.now,
                                           reason=reason, name=name)
        return succession_view(rt.view.registry, agency).model_dump()

    body = {"old_codes": old_codes, "new_code": to, "reason": reason, "name": name,
            "effective_at": (given or datetime.now().astimezone()).isoformat()}
    _show(_do(work, actor, "POST", "/v1/ops/successions", body), as_json, "succession")


@directory.command("sync")
def directory_sync(
    source: Annotated[Path, typer.Argument(
        help="The national list: JSON (getAgenciesList) or CSV.", exists=True,
        dir_okay=False)],
    apply: Annotated[bool, typer.Option("--apply", help="Record the changes (default: "
                                                        "only show the diff).")] = False,
    reason: Annotated[str, typer.Option(help="Recorded with re-codes and removals.")] =
        "national agency list",
    as_json: Json = False, actor: Actor = None,
) -> None:
    """Compare a national agency list with the registry: added, renamed, re-coded,
    removed (only agencies a list brought), invalid rows. --apply records them."""
    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        rows = (row_of(r) for r in read_rows(source))
        summary = await rt.registry.sync(ctx, rows, apply=apply, reason=reason)
        return {"applied": apply, **summary.view()}

    try:
        result = _run(work, actor)
    except BadList as exc:
        typer.echo(f"error [invalid_list]: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    counts = result["counts"]
    typer.echo(("applied: " if apply else "dry run (--apply records it): ") + ", ".join(
        f"{n} {kind}" for kind, n in counts.items()) + f", {result['unchanged']} unchanged")
    for kind, samples in result["samples"].items():
        for s in samples[:5]:
            was = f" (was {s.get('old_code') or s.get('old_name')})" \
                if s.get("old_code") or s.get("old_name") else ""
            why = f": {s['detail']}" if s.get("detail") else ""
            typer.echo(f"  {kind:<8} {s['code']}  {s.get('name', '')}{was}{why}")
