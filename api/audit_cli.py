"""`truc admin audit verify`: proves the registry's audit chain (``hub/audit.py``) from
the hub's own log, locally (its data dir, or its Kafka and Cassandra)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from api.admin_cli import open_local, run_or_exit
from api.runtime import Runtime
from hub.audit import Verdict, verify
from hub.topics import REGISTRY

audit_app = typer.Typer(help="The tamper-evident audit trail of operator actions.",
                        no_args_is_help=True)


async def chain_verdict(runtime: Runtime) -> Verdict:
    records = [(r.position.partition, r.position.offset, r.event)
               async for r in runtime.backend.events.read(REGISTRY)]
    return verify(records)


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check every registry action against the hash chain; exit 1 where it breaks."""
    async def go() -> Verdict:
        runtime = await open_local()
        try:
            return await chain_verdict(runtime)
        finally:
            await runtime.close()

    verdict = run_or_exit(go())
    if as_json:
        typer.echo(json.dumps({"intact": verdict.intact, "linked": verdict.linked,
                               "before_chain": verdict.before_chain,
                               "breaks": [asdict(b) for b in verdict.breaks]}, indent=2))
    elif verdict.intact:
        typer.echo(f"intact: {verdict.linked} actions chained"
                   + (f", {verdict.before_chain} from before the chain began"
                      if verdict.before_chain else ""))
    else:
        for found in verdict.breaks:
            typer.echo(f"BROKEN at {REGISTRY}/{found.partition}/{found.offset} "
                       f"(event {found.event_id}): {found.reason}")
    if not verdict.intact:
        raise typer.Exit(1)


def register(admin: typer.Typer) -> None:
    admin.add_typer(audit_app, name="audit")
