"""The agency side of `truc`: send, inbox, fetch, ack, status, report-status, watch.

Every command is a signed call with the app's key pair, read from the environment:

    TRUC_URL=https://truc.example.gov.vn  TRUC_ACCESS_KEY=…  TRUC_SECRET_KEY=…

(or ``TRUC_PRIVATE_KEY_FILE=app.pem`` instead of the secret, for an app registered with an
RSA public key). ``--json`` prints one JSON document on stdout (``watch``: one object per
line). A refusal from the hub prints ``error [code]: detail`` on stderr and exits with 2;
a fetched file whose SHA-256 is not the package's exits with 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from rich import box
from rich import progress as bars
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from api import send_state
from api.client import NotText, TrucClient, TrucError, file_digest

T = TypeVar("T")
EXIT_REFUSED = 2
EXIT_CORRUPT = 1

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON).")]
PackageId = Annotated[str, typer.Argument(help="The package id.", show_default=False)]


class Priority(StrEnum):
    normal = "normal"
    urgent = "urgent"
    flash = "flash"


@dataclass(frozen=True)
class HubConfig:
    """Where the hub is and the app's key pair."""

    url: str
    access_key: str
    secret_key: str | None
    private_key_pem: str | None

    def client(self) -> TrucClient:
        return TrucClient(self.url, self.access_key, self.secret_key,
                          private_key_pem=self.private_key_pem)


def fail(message: str, exit_code: int = EXIT_REFUSED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(exit_code)


def refused(exc: TrucError) -> NoReturn:
    global _last_refusal_retriable  # noqa: PLW0603 — one CLI command per process
    _last_refusal_retriable = bool(exc.problem.get("retriable", True))
    typer.echo(f"error [{exc.code}]: {exc.problem.get('detail', '')}", err=True)
    raise typer.Exit(EXIT_REFUSED)


def config() -> HubConfig:
    """The hub and key pair from TRUC_URL, TRUC_ACCESS_KEY, TRUC_SECRET_KEY (or
    TRUC_PRIVATE_KEY_FILE); exits with 2 saying what is missing."""
    url, access_key = os.environ.get("TRUC_URL"), os.environ.get("TRUC_ACCESS_KEY")
    secret = os.environ.get("TRUC_SECRET_KEY") or None
    key_file = os.environ.get("TRUC_PRIVATE_KEY_FILE") or None
    missing = [name for name, value in (("TRUC_URL", url), ("TRUC_ACCESS_KEY", access_key))
               if not value]
    if not secret and not key_file:
        missing.append("TRUC_SECRET_KEY (or TRUC_PRIVATE_KEY_FILE for an RSA app)")
    if missing or not url or not access_key:
        fail(f"not configured: set {', '.join(missing)} to the hub's address and your "
             "app's key pair (given by the hub's operator)")
    if secret and key_file:
        fail("set TRUC_SECRET_KEY or TRUC_PRIVATE_KEY_FILE, not both")
    return HubConfig(url, access_key, secret, _read_key(key_file) if key_file else None)


def _read_key(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        fail(f"TRUC_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}")


def run(work: Callable[[TrucClient], Awaitable[T]]) -> T:
    """Runs ``work`` with a client of the configured hub; any refusal exits with 2."""
    hub = config()

    async def go() -> T:
        async with hub.client() as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except TrucError as exc:
        refused(exc)
    except NotText as exc:
        fail(f"{exc} (give text in UTF-8; check the terminal's or file's encoding)")
    except httpx.TransportError as exc:
        fail(f"cannot reach the hub at {hub.url}: {exc}")
    except (ValueError, KeyError) as exc:
        fail(f"unexpected answer from {hub.url}: {exc!r}")


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


class Bar:
    """A transfer bar's handle: called with a size as bytes go; told when the hub seals
    (it reads the whole content back then: the bar sits at 100% and says "sealing")."""

    def __init__(self, shown: bars.Progress, task: bars.TaskID) -> None:
        self._shown, self._task = shown, task

    def __call__(self, size: int) -> None:
        self._shown.advance(self._task, size)

    def sealing(self) -> None:
        self._shown.update(self._task, description="sealing (the hub checks the SHA-256)")


@contextmanager
def progress_bar(label: str, total: int, done: int = 0, *,
                 enabled: bool = True) -> Iterator[Bar | None]:
    """A transfer bar on a terminal; nothing when stdout is a pipe or a file."""
    if not enabled or not sys.stdout.isatty():
        yield None
        return
    columns = (bars.TextColumn("{task.description}"), bars.BarColumn(),
               bars.DownloadColumn(binary_units=True), bars.TransferSpeedColumn(),
               bars.TimeRemainingColumn())
    with bars.Progress(*columns, transient=True) as shown:
        yield Bar(shown, shown.add_task(label, total=total, completed=done))


def _may_resume() -> bool:
    """Whether the error just printed is one a new try may get past (set by ``refused``)."""
    return _last_refusal_retriable


_last_refusal_retriable = True


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def iso_time(value: str | None) -> str | None:
    """Checks an ISO 8601 time; one without a zone is taken as local time."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use ISO 8601, e.g. 2026-03-20T17:00:00+07:00") from None
    return (parsed if parsed.tzinfo else parsed.astimezone()).isoformat()


# --- sending ----------------------------------------------------------------------------

def send(
    file: Annotated[Path, typer.Argument(help="The content to send.", exists=True,
                                         dir_okay=False, readable=True, show_default=False)],
    title: Annotated[str, typer.Option(help="Title the destinations see.", show_default=False)],
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Destination agency codes, comma separated (or --to repeated). A "
        "--type edxml document may leave them out: its To names them.",
        show_default=False)] = None,
    data_type: Annotated[str, typer.Option("--type", help="Data type: edxml, pdf, json…")
                         ] = "binary",
    priority: Annotated[Priority, typer.Option(help="Flash is served first.")
                        ] = Priority.normal,
    deadline: Annotated[str | None, typer.Option(
        help="Deliver before this time (ISO 8601; no zone: local time).",
        callback=iso_time)] = None,
    offline_wait: Annotated[int | None, typer.Option(
        "--offline-wait", min=0, help="Seconds to wait for an offline destination.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        help="The same key again gives the same package: safe retries.")] = None,
    as_json: Json = False,
    edxml: Annotated[bool, typer.Option(
        "--edxml", help="Wrap FILE into an edXML document (QCVN 102:2016) from your agency "
        "to --to, with --title as its subject, and send that.")] = False,
    code: Annotated[str, typer.Option(
        help="With --edxml: the document's number/notation, e.g. 12/STTTT-VP.")] = "",
    place: Annotated[str, typer.Option(help="With --edxml: where it was promulgated.")] = "",
    doc_type: Annotated[str, typer.Option(
        help="With --edxml: the document type's name.")] = "Công văn",
) -> None:
    """Send FILE to agencies: in one call when it fits one chunk (1 MiB), else upload it
    in chunks, then seal it. Run again after an
    interruption, the same command resumes where it stopped (the CLI keeps its own
    idempotency key per file and destination until the send succeeds). With --edxml,
    FILE travels as the attachment of an edXML document the hub reads and checks."""
    recipients = [code.strip() for item in to or () for code in item.split(",")
                  if code.strip()]
    if edxml and not recipients:
        fail("--edxml writes the document's To from --to: name at least one destination")
    hub_config = config()
    this_send = send_state.identity(file, recipients, hub_config.url, hub_config.access_key,
                                    title=title, type="edxml" if edxml else data_type,
                                    priority=priority.value)
    key = idempotency_key or send_state.key_for(this_send)

    async def work(hub: TrucClient) -> dict[str, Any]:
        content, kind = file, data_type
        if edxml:
            from api.edxml_cli import wrap  # here: edxml_cli imports this module
            content, kind = await wrap(hub, file, recipients, title, code=code, place=place,
                                       doc_type=doc_type), "edxml"
        with progress_bar("sending", content.stat().st_size, enabled=not as_json) as bar:
            return await hub.send(recipients, title, content, data_type=kind,
                                  priority=priority.value, deadline=deadline,
                                  offline_wait_seconds=offline_wait, idempotency_key=key,
                                  progress=bar, sealing=bar.sealing if bar else None)

    try:
        sealed = run(work)
    except typer.Exit as refusal:
        if refusal.exit_code == EXIT_REFUSED and not _may_resume():
            send_state.done(this_send)  # refused for good: a new try is a new package
        raise
    send_state.done(this_send)
    if as_json:
        emit(sealed)
    else:
        typer.echo(f"{sealed['package_id']}  {sealed['state']}")
    warn(sealed)


def warn(view: dict[str, Any]) -> None:
    """The hub's warnings on a package (a destination with no receiving app yet), on
    stderr: the command still succeeded, but the sender must know (Điều 5.9)."""
    for warning in view.get("warnings") or []:
        typer.echo(f"warning [{warning['code']}]: {warning['detail']}", err=True)
    for named, current in (view.get("successors") or {}).items():
        typer.echo(f"note [code_succeeded]: {named} is closed; sent to its successor "
                   f"{current} (use that code from now on)", err=True)


# --- receiving --------------------------------------------------------------------------

def inbox(as_json: Json = False) -> None:
    """Packages waiting for your agency: flash first, then urgent, then normal."""
    waiting = run(TrucClient.inbox)
    if as_json:
        emit(waiting)
        return
    if not waiting:
        typer.echo("the inbox is empty")
        return
    console = Console() if sys.stdout.isatty() else Console(width=160)
    rows = [(i["package_id"], escape(i["title"]), i["priority"], i["source"],
             human_size(i["size"]), i.get("delivery_state", i["state"])) for i in waiting]
    if console.width < 110:  # too narrow for a table: two lines per package
        for pid, title, priority, source, size, state in rows:
            console.print(f"{pid}  {priority:<6} {size:>9}  {state}\n"
                          f"    {source}  {title}", highlight=False)
        return
    table = Table(Column("package id", no_wrap=True), Column("title", ratio=1),
                  *(Column(c, no_wrap=True) for c in ("priority", "source", "size", "state")),
                  box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def fetch(
    package_id: PackageId,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The file to write; a partial one is resumed.",
        dir_okay=False, show_default=False)],
    as_json: Json = False,
) -> None:
    """Download a package to FILE (resuming a partial FILE) and verify its SHA-256."""
    async def work(hub: TrucClient) -> tuple[dict[str, Any], str]:
        pkg = await hub.package(package_id)
        have = output.stat().st_size if output.exists() else 0
        if have > pkg["size"]:
            fail(f"{output} has {have} bytes, more than the package's {pkg['size']}: "
                 "it is another file; remove it or choose another name")
        if have == pkg["size"]:
            return pkg, (await asyncio.to_thread(file_digest, output))[1]
        with progress_bar("fetching", pkg["size"], have, enabled=not as_json) as advance:
            return pkg, await hub.fetch(package_id, output, progress=advance)

    pkg, digest = run(work)
    verified = digest == pkg["sha256"]
    if as_json:
        emit({"package_id": package_id, "file": str(output), "size": pkg["size"],
              "sha256": digest, "expected_sha256": pkg["sha256"], "verified": verified})
    if not verified:
        fail(f"{output} does not match the package: its SHA-256 is {digest}, the package's "
             f"is {pkg['sha256']}; delete the file and fetch again", EXIT_CORRUPT)
    if not as_json:
        typer.echo(f"{digest}  {output}")


def ack(
    package_id: PackageId,
    sha256: Annotated[str | None, typer.Option(help="The SHA-256 you computed (hex).")
                      ] = None,
    file: Annotated[Path | None, typer.Option(
        help="Compute the SHA-256 from this file.", exists=True, dir_okay=False,
        readable=True)] = None,
    as_json: Json = False,
) -> None:
    """Acknowledge receipt with the SHA-256 of what you received (--sha256 or --file)."""
    if sha256 is not None and file is not None:
        fail("give --sha256 or --file, not both")
    if file is not None:
        digest = file_digest(file)[1]
    elif sha256 is not None:
        digest = sha256
    else:
        fail("give --sha256 HEX or --file FILE")
    view = run(lambda hub: hub.ack(package_id, digest))
    if as_json:
        emit(view)
        return
    mine = view["deliveries"][0] if view["deliveries"] else {"state": view["state"]}
    typer.echo(f"{package_id}  {mine['state']}")


def two_digits(code: str) -> str:
    """National status codes have two digits: ``3`` is read as ``03``."""
    code = code.strip()
    return code.zfill(2) if code.isdigit() and len(code) == 1 else code


def report_status(
    package_id: PackageId,
    code: Annotated[str, typer.Argument(
        callback=two_digits,
        help="01 arrived, 02 refused, 03 registered, 04 assigned, 05 processing, "
             "06 completed, 13 recall requested, 15 recall/update agreed, "
             "16 recall/update refused.", show_default=False)],
    note: Annotated[str | None, typer.Option(help="A note for the other agency.")] = None,
    destination: Annotated[str | None, typer.Option(
        help="For the source's 13 (recall requested): the destination agency's code.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Report the national status of a received document back to its source, or (13) ask
    a destination to recall a document it received."""
    view = run(lambda hub: hub.report_status(package_id, code, note, destination))
    if as_json:
        emit(view)
    else:
        typer.echo(f"{package_id}  status {code} reported")


def status(package_id: PackageId, as_json: Json = False) -> None:
    """A package's state, its deliveries and its timeline."""
    view = run(lambda hub: hub.package(package_id))
    if as_json:
        emit(view)
        return
    console = Console() if sys.stdout.isatty() else Console(width=240)
    console.print(f"[bold]{escape(view['title'])}[/bold]\npackage {view['package_id']}\n"
                  f"state   {view['state']}, {view['priority']}, {human_size(view['size'])} "
                  f"from {view['source']}\nsha256  {view['sha256']}", highlight=False)
    deliveries = Table(Column("destination", no_wrap=True), "state",
                       Column("statuses", overflow="fold"), title="deliveries")
    for d in view["deliveries"]:
        codes = ", ".join(f"{s['code']} ({s['at']})" for s in d["statuses"])
        deliveries.add_row(d["agency_code"], d["state"], codes)
    timeline = Table(Column("at", no_wrap=True), "what", Column("detail", overflow="fold"),
                     title="timeline")
    for step in view["timeline"]:
        timeline.add_row(step["at"], step["what"], escape(step["detail"] or ""))
    console.print(deliveries, timeline)
    warn(view)


# --- notifications ----------------------------------------------------------------------

def watch(
    sse: Annotated[bool, typer.Option("--sse", help="Server-Sent Events, not WebSocket.")
                   ] = False,
    as_json: Json = False,
) -> None:
    """Print notices as they arrive, until Ctrl-C (reconnects if the hub goes away) or
    the hub ends the stream because the app or its key was revoked or expired."""
    async def work(hub: TrucClient) -> None:
        async for message in _notices(hub, sse):
            typer.echo(json.dumps(message, ensure_ascii=False) if as_json
                       else _notice_line(message))

    try:
        run(work)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


async def _notices(hub: TrucClient, sse: bool) -> AsyncIterator[dict[str, Any]]:
    from websockets.exceptions import WebSocketException

    delay = 1.0
    while True:
        try:
            async for message in hub.events() if sse else hub.watch():
                delay = 1.0
                yield message
                if message["type"] == "revoked":  # reconnecting would only be refused
                    return
        except (OSError, httpx.TransportError, WebSocketException) as exc:
            typer.echo(f"connection lost ({exc}); reconnecting in {delay:.0f} s", err=True)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30)


def _notice_line(message: dict[str, Any]) -> str:
    shown = {k: v for k, v in message.items() if k != "type" and v is not None}
    return f"{message['type']:<22} " + "  ".join(f"{k}={v}" for k, v in shown.items())


def register(app: typer.Typer) -> None:
    """Adds the agency commands to the `truc` command."""
    for command in (send, inbox, fetch, ack, status, report_status, watch):
        app.command(command.__name__.replace("_", "-"))(command)
