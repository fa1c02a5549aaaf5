"""edXML from the command line: ``truc send --edxml`` wraps an ordinary file into a valid
edXML document (``wrap``); ``truc document`` shows the header the hub read;
``truc attachment`` downloads one attachment, checked against its SHA-256."""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from api.client import TrucClient, file_digest
from api.exchange_cli import EXIT_CORRUPT, Json, PackageId, emit, fail, run
from hub.edxml.builder import build_document
from hub.edxml.model import AttachmentInfo, Document, Organ

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
PIECE = 1 << 20


def _pieces(path: Path) -> Any:
    with path.open("rb") as source:
        while piece := source.read(PIECE):
            yield piece


async def wrap(hub: TrucClient, file: Path, recipients: list[str], subject: str, *,
               code: str, place: str, doc_type: str) -> Path:
    """FILE as the one attachment of an edXML document from the caller's agency to
    ``recipients``; written (streamed) to a temporary file whose bytes depend only on the
    inputs and the day, so a resumed send uploads the very same package."""
    me = await hub.whoami()
    size, digest = file_digest(file)
    number, _, notation = code.partition("/")
    today = datetime.now(VIETNAM).date().isoformat()
    sender = me["agency"]["code"]
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    doc = Document(
        Organ(sender, me["agency"].get("name") or ""), tuple(Organ(c) for c in recipients),
        document_id=f"{sender},{today.replace('-', '/')},{digest[:16]}", code_number=number,
        code_notation=notation, promulgation_place=place, promulgation_date=today,
        type_code="1", type_name=doc_type, subject=subject, priority="0", steering_type="0",
        business_doc_type="0",
        attachments=(AttachmentInfo(f"cid:{digest[:16]}", file.name, kind, "", size, digest),))
    target = Path(tempfile.gettempdir()) / f"truc-{digest[:16]}-{today}.edxml"
    with target.open("wb") as out:
        for piece in build_document(doc, [_pieces(file)]):
            out.write(piece)
    return target


def document(package_id: PackageId, as_json: Json = True) -> None:
    """The edXML header the hub read from a package (JSON), with its attachments."""
    del as_json  # always JSON: a header has too many fields for a table

    async def work(hub: TrucClient) -> Any:
        return await hub.call("GET", f"/v1/packages/{package_id}/document")

    emit(run(work))


def attachment(
    package_id: PackageId,
    index: Annotated[int, typer.Argument(help="The attachment's index (0 is the first).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write it.")],
) -> None:
    """Download one attachment of an edXML package, decoded; its SHA-256 is checked."""

    async def work(hub: TrucClient) -> str:
        response = await hub.request("GET", f"/v1/packages/{package_id}/attachments/{index}")
        output.write_bytes(response.content)
        return str(response.headers.get("x-content-sha256", ""))

    expected = run(work)
    actual = hashlib.sha256(output.read_bytes()).hexdigest()
    if expected and actual != expected:
        fail(f"{output}: SHA-256 {actual} differs from the hub's {expected}", EXIT_CORRUPT)
    typer.echo(f"{output}  {actual}")


def register(app: typer.Typer) -> None:
    for command in (document, attachment):
        app.command(command.__name__)(command)
