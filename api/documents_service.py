"""edXML packages for the API: the analysis on seal, and the attachments streamed out of
the stored content. The rules are ``hub.edxml``'s; this module only reads the content
store a chunk at a time and feeds the domain's streaming reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import datetime

from cryptography import x509

from api.runtime import Runtime
from hub import events as ev
from hub.auth.sessions import Caller
from hub.edxml import flows, links, statuses
from hub.edxml.analysis import analyse, wanted
from hub.edxml.certificates import Certificate
from hub.edxml.model import Document, StatusPackage
from hub.edxml.parse import interpret
from hub.edxml.reader import EdxmlRefused, Reader
from hub.edxml.rules import Problem, business_key
from hub.errors import NotFound
from hub.packages.model import Package
from hub.packages.processor import DOCUMENTS, document_ref, package_ref
from hub.registry.decisions import Context
from infra import certificates, xmlsig

THREAD_FROM = 64 * 1024
SNIFFED = frozenset({"edxml", "xml", "edoc", "binary"})
"""Data types whose content is looked at for an edXML root: a package declared ``pdf``
is not opened on seal."""


Chunks = Callable[[], AsyncIterator[bytes]]
"""The package's content, a chunk at a time, from its first byte."""


async def analysis(rt: Runtime, ctx: Context, caller: Caller, pkg: Package,
                   content: bytes | None = None
                   ) -> tuple[ev.DocumentAnalysed | None, list[ev.Event]]:
    """The package analysed as edXML (None when it is not edXML, declared or sniffed),
    and the events it causes on earlier packages: the status a status package reports,
    the recall a revoking document or a recall request makes (``hub.edxml.flows``).
    ``content``: the whole content when the caller holds it (a package sent in one
    call), read from memory instead of decrypted again from the content store."""
    if pkg.data_type not in SNIFFED:
        return None, []
    head = await rt.vault.get_chunk(pkg.package_id, 0) if content is None else content
    if not wanted(pkg.data_type, head):
        return None, []
    chunks = _stored(rt, pkg) if content is None else _in_memory(content)
    parsed = await _read(chunks)
    held = await _held(rt, pkg, parsed)
    earlier = await _earlier(rt, caller, pkg, parsed)
    trust = (certificates.load_roots(rt.settings.signing_roots_file),
             certificates.load_crls(rt.settings.signing_crls_file))
    result, why, certificate = await _verified(pkg, parsed, chunks, ctx.now, trust)
    analysed = analyse(ctx, pkg, parsed, rt.view.registry, caller, held=held,
                       signature=(result, why), earlier=earlier, certificate=certificate)
    if isinstance(parsed, EdxmlRefused) or analysed.problems:
        return analysed, []
    caused = await _caused(rt, ctx, caller, parsed, (earlier, analysed, _senders(caller, pkg)))
    if isinstance(caused, Problem):
        return replace(analysed, problems=[str(caused)]), []
    return analysed, caused


async def _caused(rt: Runtime, ctx: Context, caller: Caller, parsed: Document | StatusPackage,
                  seen: tuple[links.Earlier, ev.DocumentAnalysed, set[str]]
                  ) -> list[ev.Event] | Problem:
    """The domain's follow-ups (``hub.edxml.flows``), given where the named documents
    went (``earlier``), the package's own destinations (from its analysis) and the
    sender's codes."""
    earlier, analysed, senders = seen
    destinations = set(analysed.recipient_agency_ids)
    if isinstance(parsed, Document):
        return flows.revocations(ctx, parsed, earlier, caller, destinations)
    if links.recall_request(parsed, senders):
        return flows.recall_requests(ctx, parsed, earlier, caller, destinations)
    status = statuses.reported(ctx, await _answered(rt, caller, parsed), caller, parsed)
    return status if isinstance(status, Problem) else [status]


async def _earlier(rt: Runtime, caller: Caller, pkg: Package,
                   parsed: Document | StatusPackage | EdxmlRefused) -> links.Earlier:
    """Where the caller's agency delivered the documents this package names
    (``links.named_keys``): each destination with the package that delivered it."""
    if isinstance(parsed, EdxmlRefused):
        return []
    found: list[tuple[str, Package]] = []
    loaded: dict[str, Package | None] = {}
    for key in links.named_keys(parsed, _senders(caller, pkg)):
        for row in await rt.backend.projections.scan(DOCUMENTS, key):
            package_id = str(row.body["package_id"])
            if package_id not in loaded:
                loaded[package_id] = await _package(rt, package_id)
            earlier = loaded[package_id]
            if earlier is not None and earlier.source_agency_id == caller.app.agency_id:
                found.append((row.ref.key, earlier))
    return found


def _senders(caller: Caller, pkg: Package) -> set[str]:
    """The codes the sender goes by, as the analysis reads ``From`` (``analyse``)."""
    return {caller.agency_code, pkg.source_code}


async def _package(rt: Runtime, package_id: str) -> Package | None:
    found = await rt.backend.projections.get(package_ref(package_id))
    return None if found is None else Package.from_json(dict(found.body))


def _stored(rt: Runtime, pkg: Package) -> Chunks:
    return lambda: rt.vault.chunks(pkg.package_id, 0, pkg.chunk_count - 1)


def _in_memory(content: bytes) -> Chunks:
    async def chunks() -> AsyncIterator[bytes]:
        yield content
    return chunks


async def _verified(pkg: Package, parsed: Document | StatusPackage | EdxmlRefused,
                    chunks: Chunks, at: datetime,
                    trust: tuple[Sequence[x509.Certificate],
                                 Sequence[x509.CertificateRevocationList]]
                    ) -> tuple[str, str, Certificate | None]:
    """The XML signature checked (``infra.xmlsig``), for a signed document small enough to
    canonicalise in memory: result, why, and the signer's certificate (its validity, its
    chain to the hub's roots and its revocation by the hub's CRLs, ``trust``, at ``at``,
    the seal)."""
    if isinstance(parsed, EdxmlRefused) or not parsed.signed:
        return "none", "", None
    if pkg.size > xmlsig.MAX_VERIFIED_BYTES:
        return xmlsig.UNVERIFIED, f"larger than {xmlsig.MAX_VERIFIED_BYTES} bytes", None
    data = b"".join([c async for c in chunks()])
    return await asyncio.to_thread(xmlsig.inspect, data, at, *trust)


async def _answered(rt: Runtime, caller: Caller, status: StatusPackage) -> Package | None:
    """The package that delivered the answered document to the caller's agency."""
    key = statuses.answered_key(status)
    if key is None:
        return None
    row = await rt.backend.projections.get(document_ref(key, caller.app.agency_id))
    return None if row is None else await _package(rt, str(row.body["package_id"]))


async def _read(chunks: Chunks) -> Document | StatusPackage | EdxmlRefused:
    reader = Reader()
    try:
        async for chunk in chunks():
            await _fed(reader, chunk)
        return interpret(reader.close(), reader.payloads)
    except EdxmlRefused as refused:
        return refused


async def _held(rt: Runtime, pkg: Package,
                parsed: Document | StatusPackage | EdxmlRefused) -> set[str]:
    """The document's destinations that already received it in another package."""
    if not isinstance(parsed, Document):
        return set()
    key = business_key(parsed)
    held = set()
    for to in parsed.recipients:
        agency_id = rt.view.registry.agency_by_code.get(to.organ_id)
        if agency_id is None:
            continue
        row = await rt.backend.projections.get(document_ref(key, agency_id))
        if row is not None and row.body.get("package_id") != pkg.package_id:
            held.add(to.organ_id)
    return held


def attachment(pkg: Package, index: int) -> dict[str, object]:
    """The attachment's entry in the document view, or 404 ``attachment_not_found``."""
    found = (pkg.document or {}).get("attachments") or []
    if not 0 <= index < len(found):
        raise NotFound(f"the package has no attachment {index}", code="attachment_not_found")
    entry: dict[str, object] = found[index]
    return entry


async def attachment_bytes(content: AsyncIterator[bytes], index: int) -> AsyncIterator[bytes]:
    """Attachment ``index`` decoded from the package's content as it streams: memory
    holds one chunk and what it decodes to, never the whole attachment."""
    reader = Reader(wanted=index)
    async for chunk in content:
        await _fed(reader, chunk)
        piece = reader.take()
        if piece:
            yield piece
    reader.close()
    piece = reader.take()
    if piece:
        yield piece


async def _fed(reader: Reader, chunk: bytes) -> None:
    """Parsing a chunk takes milliseconds (a 50 MB package, seconds): off the event loop
    for a large chunk, so other requests are served meanwhile."""
    if len(chunk) < THREAD_FROM:
        reader.feed(chunk)
    else:
        await asyncio.to_thread(reader.feed, chunk)
