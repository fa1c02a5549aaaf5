"""`truc directory`: search the hub's agency directory (name or code, accents optional).

Signed with the app's key (``TRUC_URL``, ``TRUC_ACCESS_KEY``, ``TRUC_SECRET_KEY``) like
the other agency commands; ``--json`` prints the page as the API answers it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import typer
from rich.table import Table

from api.admin_cli import wide_console
from api.exchange_cli import Json, emit, run


def directory(
    words: Annotated[list[str] | None, typer.Argument(
        help="Words of a name or a code (\"so tu phap\", 000.00.12.H53).")] = None,
    parent: Annotated[str | None, typer.Option(help="Only the children of this code.")] = None,
    level: Annotated[int | None, typer.Option(min=1, max=4, help="Only this level.")] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 20,
    as_json: Json = False,
) -> None:
    """Find agencies by name or code (old codes too), with level, parent and online state."""
    query: dict[str, Any] = {"q": " ".join(words or []), "offset": offset, "limit": limit}
    if parent:
        query["parent"] = parent
    if level:
        query["level"] = level
    page = run(lambda hub: hub.call("GET", f"/v1/directory?{urlencode(query)}"))
    if as_json:
        emit(page)
        return
    table = Table(title=f"{page['total']} agencies (from {offset + 1})")
    for column in ("code", "name", "level", "parent", "children", "online", "former codes"):
        table.add_column(column, overflow="fold")
    for a in page["agencies"]:
        online = {True: "yes", False: "no", None: "-"}[a["online"]]
        table.add_row(a["code"], a["name"], str(a["level"]),
                      a["parent"]["code"] if a["parent"] else "", str(a["children"]), online,
                      " ".join(a["former_codes"]))
    wide_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("directory")(directory)
