"""The `truc` command: run the hub, provision engines, operate it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api import deliveries_cli, directory_cli, edxml_cli
from api.admin_cli import admin, hoist_local_flags
from api.alerts_cli import register as register_alerts
from api.audit_cli import register as register_audit
from api.console_cli import register as register_console
from api.directory_admin_cli import register_directory
from api.exchange_cli import register
from api.reports_cli import register_reports
from api.zones_cli import register_zones
from infra.settings import Settings

app = typer.Typer(help="Truc: the interoperability hub.", no_args_is_help=True)
register_reports(admin)
register_directory(admin)
register_zones(admin)
register_console(admin)
register_audit(admin)
register_alerts(admin)
app.add_typer(admin, name="admin")
register(app)
deliveries_cli.register(app)
edxml_cli.register(app)
directory_cli.register(app)

DataDir = Annotated[Path | None, typer.Option(help="Where the embedded hub keeps its data.")]
Kafka = Annotated[str | None, typer.Option(help="Kafka bootstrap servers (host:port,...).")]
Cassandra = Annotated[str | None, typer.Option(help="Cassandra contact points (host:port,...).")]


def settings_from(data_dir: Path | None = None, kafka: str | None = None,
                  cassandra: str | None = None, **more: Any) -> Settings:
    given = {"data_dir": data_dir, "kafka": kafka, "cassandra": cassandra, **more}
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
        settings.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return settings


@app.command()
def serve(
    data_dir: DataDir = None, kafka: Kafka = None, cassandra: Cassandra = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    log_format: Annotated[str | None, typer.Option(
        help="plain (a terminal) or json (one object per line); TRUC_LOG_FORMAT.")] = None,
) -> None:
    """Run an API node (embedded by default; distributed with --kafka and --cassandra)."""
    import uvicorn

    from api.app import create_app
    from api.protocol import ReadLimits, timed_protocol
    from infra.logs import uvicorn_config

    settings = settings_from(data_dir, kafka, cassandra, host=host, port=port,
                             log_format=log_format)
    try:
        log_config = uvicorn_config(settings.log_format)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if settings.distributed:
        _need_master_key(settings)
        asyncio.run(_migrate(settings))
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False, log_config=log_config,
                ws_ping_interval=20, timeout_graceful_shutdown=5,
                http=timed_protocol(ReadLimits.of(settings)))


@app.command()
def migrate(
    data_dir: DataDir = None, kafka: Kafka = None, cassandra: Cassandra = None,
    replication: Annotated[int | None, typer.Option(
        min=1, help="Replicas of each topic and of the keyspace (3 in a cluster).")] = None,
    datacenter: Annotated[str | None, typer.Option(
        help="Cassandra data centre: NetworkTopologyStrategy and LOCAL_QUORUM.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create topics, keyspace and tables (or the SQLite file). Safe to run again."""
    settings = settings_from(data_dir, kafka, cassandra, replication=replication,
                             cassandra_datacenter=datacenter)
    result = asyncio.run(_migrate(settings))
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
    _need_master_key(settings)
    asyncio.run(_migrate(settings))
    run_worker(settings, loglevel)


def _need_master_key(settings: Settings) -> None:
    """A distributed node without the master key stops with one line, not a traceback:
    every node needs the same key, so none makes its own."""
    from infra.crypto import load_master_key

    try:
        load_master_key(settings.master_key, settings.master_key_file, settings.data_dir,
                        create=False)
    except ValueError as exc:
        typer.echo(f"error: {exc}. Make one with `openssl rand -base64 32` and give the "
                   "same to every API node and worker (README, Running it distributed).",
                   err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app(args=hoist_local_flags(sys.argv[1:]))


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="A new (or empty) directory for the backup.")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Copy the embedded hub's data (and its master key) while it runs."""
    from infra.sqlite.backup import backup as run

    settings = _embedded_only(settings_from(data_dir), "backup")
    _report(lambda: run(settings.sqlite_path, _master_key_path(settings), target), as_json,
            "backed up")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A directory made by `truc backup`.")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Put a backup in place as the data of a hub that has none (the hub stopped)."""
    from infra.sqlite.backup import restore as run

    settings = _embedded_only(settings_from(data_dir), "restore")
    _report(lambda: run(source, settings.sqlite_path, _master_key_path(settings)), as_json,
            "restored")


def _embedded_only(settings: Settings, what: str) -> Settings:
    if settings.distributed:
        typer.echo(f"truc {what} copies the embedded hub's data; on Kafka + Cassandra see "
                   "docs/operating.md, Backups", err=True)
        raise typer.Exit(2)
    return settings


def _master_key_path(settings: Settings) -> Path | None:
    """None when the key is given as a value: it is not a file a backup could copy."""
    if settings.master_key:
        return None
    return settings.master_key_file or settings.data_dir / "master.key"


def _report(run: Any, as_json: bool, done: str) -> None:
    from infra.sqlite.backup import BackupError

    try:
        report = run()
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return
    events = sum(report.events.values())
    typer.echo(f"{done} {report.path}: {report.bytes} bytes, sha256 {report.sha256}, "
               f"{events} events, {report.packages} packages, {report.chunks} chunks, "
               f"master key {'included' if report.master_key_included else 'NOT included'}"
               f" ({report.seconds} s)")


@app.command()
def replay(
    projection: Annotated[str, typer.Option(help="statistics | history")],
    start: Annotated[str | None, typer.Option(
        "--from", help="An offset (every partition) or a time (ISO 8601, hub-local "
                       "unless it has an offset).")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the rebuilt rows in their namespace.")
                    ] = False,
    data_dir: DataDir = None, kafka: Kafka = None, cassandra: Cassandra = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rebuild a projection from the event log into a fresh namespace and compare it with
    the live one. Exit status 0 when they are equal, 1 when they differ."""
    from hub.processors import fold_named

    settings = settings_from(data_dir, kafka, cassandra)
    try:
        fold = fold_named(projection, settings.tz)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--projection") from None
    report = asyncio.run(_replay(settings, fold, _start(start, settings), keep))
    result = report.as_json()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_replay(result)
    raise typer.Exit(0 if report.equal else 1)


def _start(value: str | None, settings: Settings) -> Any:
    from datetime import datetime

    from streams.replay import Start

    if value is None:
        return Start()
    if value.isdigit():
        return Start(offset=int(value))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an offset (e.g. 1200) or a time (e.g. 2026-11-27T08:00)",
                                 param_hint="--from") from None
    return Start(time=when if when.tzinfo else when.replace(tzinfo=settings.tz))


async def _replay(settings: Settings, fold: Any, start: Any, keep: bool) -> Any:
    from infra.bootstrap import open_backend
    from streams.replay import replay as run

    backend = await open_backend(settings)
    try:
        return await run(backend.events, backend.projections, fold, start, keep=keep)
    finally:
        await backend.close()


def _print_replay(result: dict[str, Any]) -> None:
    verdict = "EQUAL to" if result["equal"] else "DIFFERENT from"
    typer.echo(f"{result['projection']}: {result['events']} events in "
               f"{result['read_seconds']:.2f} s ({result['events_per_second']} events/s); "
               f"rebuilt {result['rows_rebuilt']} rows into {result['namespace']}/, "
               f"{verdict} the live {result['rows_live']} rows")
    if not result["equal"]:
        typer.echo(f"  only live: {result['only_live']}, only rebuilt: "
                   f"{result['only_rebuilt']}, different: {result['different']}")
        for example in result["examples"]:
            typer.echo(f"  {example['view']} {example['partition']} {example['key']}: "
                       f"live={example['live']} rebuilt={example['rebuilt']}")
    if not result["live_caught_up"]:
        typer.echo("  note: the live processor had not applied every event yet")
