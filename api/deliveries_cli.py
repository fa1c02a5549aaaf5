"""The source's commands on what it sent: `truc extend`, `truc redirect`, `truc cancel`.

Same configuration, output and exit codes as the other agency commands
(``api/exchange_cli.py``): ``--json`` prints the package as the source now sees it; a
refusal prints ``error [code]: detail`` and exits with 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.exchange_cli import Json, PackageId, emit, iso_time, run


def _summary(view: dict[str, Any]) -> str:
    return "\n".join(f"{view['package_id']}  {d['agency_code']:<16} {d['state']:<12} "
                     f"deadline {d.get('deadline') or '-'}" for d in view["deliveries"])


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(view)
    else:
        typer.echo(_summary(view))


def extend(
    package_id: PackageId,
    to: Annotated[str, typer.Option("--to", help="Agency code of the delivery.",
                                    show_default=False)],
    deadline: Annotated[str, typer.Option(
        help="The new deadline (ISO 8601; no zone: local time).", callback=iso_time,
        show_default=False)],
    as_json: Json = False,
) -> None:
    """Move the deadline of one delivery (an expired one reopens while it still can)."""
    view = run(lambda hub: hub.extend(package_id, to, deadline))
    _show(view, as_json)


def redirect(
    package_id: PackageId,
    from_code: Annotated[str, typer.Option("--from", help="The current destination.",
                                           show_default=False)],
    to: Annotated[str, typer.Option("--to", help="The agency to deliver to instead.",
                                    show_default=False)],
    as_json: Json = False,
) -> None:
    """Deliver to another agency instead of this one."""
    view = run(lambda hub: hub.redirect(package_id, from_code, to))
    _show(view, as_json)


def cancel(
    package_id: PackageId,
    to: Annotated[str | None, typer.Option(
        "--to", help="Recall only the delivery to this agency (default: every open one).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Told to the destination.")] = None,
    as_json: Json = False,
) -> None:
    """Recall (cancel) a delivery: the destination can no longer fetch the package."""
    view = run(lambda hub: hub.cancel(package_id, to, reason))
    _show(view, as_json)


def register(app: typer.Typer) -> None:
    for command in (extend, redirect, cancel):
        app.command(command.__name__)(command)
