"""`truc admin console-user add`: a console account (operator + login + password).

Local only (on the hub's own data or engines, like the first operator): the password's
hash goes to the hub's key store, which a remote operator key does not reach.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from api import views
from api.admin_cli import _run, _show
from api.console.accounts import create
from api.runtime import Runtime
from hub.registry.decisions import Context

console_user = typer.Typer(help="Console accounts: <name>@<domain>, password, role.",
                           no_args_is_help=True)


@console_user.command("add")
def console_user_add(
    login: Annotated[str, typer.Argument(help="<name>@<domain>; an agency-admin's name is "
                                              "its agency code.")],
    role: Annotated[str, typer.Option(help="admin, auditor or agency-admin.")],
    agency_code: Annotated[str | None, typer.Option("--agency",
                                                    help="For agency-admin.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Register an operator who logs in to /console with a password (argon2id hash)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass(
        "Password: ")

    async def work(rt: Runtime, ctx: Context) -> dict[str, object]:
        operator = await create(rt, ctx, login, password, role=role, agency_code=agency_code,
                                  name=name)
        return {**views.operator(operator), "login": login.strip().lower()}

    _show(_run(work, actor), as_json, "console account")


def register(admin: typer.Typer) -> None:
    admin.add_typer(console_user, name="console-user")
