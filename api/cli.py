"""The `truc` command: run the hub, provision engines, operate it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from api import deliveries_cli
from api.admin_cli import admin
from api.exchange_cli import register
from infra.settings import Settings

app = typer.Typer(help="Truc: the interoperability hub.", no_args_is_help=True)
app.add_typer(admin, name="admin")
register(app)
deliveries_cli.register(app)

DataDir = Annotated[Path | None, typer.Option(help="Where the embedded hub keeps its data.")]
Kafka = Annotated[str | None, typer.Option(help="Kafka bootstrap servers (host:port,...).")]
Cassandra = Annotated[str | None, typer.Option(help="Cassandra contact points (host:port,...).")]


def settings_from(data_dir: Path | None = None, kafka: str | None = None,
                  cassandra: str | None = None, **more: Any) -> Settings:
    given = {"data_dir": data_dir, "kafka": kafka, "cassandra": cassandra, **more}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    try:
        settings.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return settings


@app.command()
def serve(
    data_dir: DataDir = None, kafka: Kafka = None, cassandra: Cassandra = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run an API node (embedded by default; distributed with --kafka and --cassandra)."""
    import uvicorn

    from api.app import create_app

    settings = settings_from(data_dir, kafka, cassandra, host=host, port=port)
    if settings.distributed:
        asyncio.run(_migrate(settings))
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", ws_ping_interval=20, timeout_graceful_shutdown=5)


@app.command()
def migrate(
    data_dir: DataDir = None, kafka: Kafka = None, cassandra: Cassandra = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create topics, keyspace and tables (or the SQLite file). Safe to run again."""
    result = asyncio.run(_migrate(settings_from(data_dir, kafka, cassandra)))
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for what, names in result.items():
            typer.echo(f"{what}: {', '.join(names) if names else 'nothing to do'}")


async def _migrate(settings: Settings) -> dict[str, list[str]]:
    from infra.bootstrap import migrate as run

    return await run(settings)


@app.command()
def worker(
    kafka: Kafka = None, cassandra: Cassandra = None,
    loglevel: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run a Faust stream worker (distributed mode); start as many as you need."""
    from streams.app import run_worker

    settings = settings_from(None, kafka, cassandra)
    if not settings.distributed:
        raise typer.BadParameter("the worker needs --kafka and --cassandra (or TRUC_KAFKA…)")
    asyncio.run(_migrate(settings))
    run_worker(settings, loglevel)


def main() -> None:
    app()
