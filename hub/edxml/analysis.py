"""Analysis on seal (Điều 9.4): a sealed edXML package read, checked, and recorded.

The hub decides here whether it delivers the package: every problem with the document
(``hub.edxml.rules``), with its recipients (the send's and the document's must agree; a
send may leave them to the document), and with duplicates (the same document, by its
business key, already delivered to a destination) goes into one ``DocumentAnalysed``;
any problem means a ``PackageRejected`` listing them all (``hub.packages.decisions.seal``).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from hub import bounds
from hub import events as ev
from hub.auth.sessions import Caller
from hub.edxml import certificates, links, rules
from hub.edxml.certificates import Certificate
from hub.edxml.model import Document, StatusPackage
from hub.edxml.reader import EdxmlRefused
from hub.packages.model import Package
from hub.registry import signing
from hub.registry.decisions import Context
from hub.registry.model import Agency, Registry
from hub.zones.decisions import (
    destination_id,
    one_per_destination,
    relayed_codes,
    relays_sender,
)

EDXML = "edxml"
MAX_PROBLEMS = 100
CLIP = 500
"""Characters kept of one value (or one problem) in a ``DocumentAnalysed``."""
MAX_HEADER_CHARS = 256 * 1024
SNIFF_BYTES = 4096


def wanted(data_type: str, head: bytes) -> bool:
    """Read as edXML: declared so, or sniffed so (an ``edXMLEnvelope`` root near the
    start, whatever the declared data type)."""
    return data_type == EDXML or b"edXMLEnvelope" in head[:SNIFF_BYTES]


def header_view(parsed: Document | StatusPackage,
                signature: tuple[str, str] = ("none", ""),
                certificate: Certificate | None = None,
                at: datetime | None = None) -> dict[str, Any]:
    """The JSON view of a document's header (or a status package), attachments included
    with their decoded sizes and digests; ``index`` names each for its download.
    ``signature``: the XML signature's verification (result, why); ``certificate``: the
    signer's, for a valid signature, with what is wrong with it at ``at`` (the seal)."""
    view = asdict(parsed)
    view["signature"] = {"result": signature[0], "detail": signature[1]}
    if certificate is not None:
        wrong = certificates.problems(certificate, at) if at else []
        view["signature"]["certificate"] = {**certificate.view(),
                                            "problems": [str(p) for p in wrong]}
    if isinstance(parsed, Document):
        view["attachments"] = [{**a, "index": i} for i, a in enumerate(view["attachments"])]
        view["business_doc_type_name"] = rules.BUSINESS_DOC_TYPES.get(
            parsed.business_doc_type, "")
        view["business_key"] = rules.business_key(parsed)
    return view


def analyse(ctx: Context, pkg: Package, parsed: Document | StatusPackage | EdxmlRefused,
            reg: Registry, caller: Caller, *, held: Collection[str] = (),
            signature: tuple[str, str] = ("none", ""),
            earlier: links.Earlier = (), certificate: Certificate | None = None
            ) -> ev.DocumentAnalysed:
    """``held``: the destination codes that already received this document (same
    business key) in an earlier package; ``signature``: its XML signature verified
    (``none`` unsigned, ``valid``, ``invalid``, ``unverified``; and why): recorded and
    shown, and a reason to refuse a document only when the sending agency's registration
    requires signed documents (``hub.registry.signing``).
    ``earlier``: where the sender's documents this one names (``links.named_keys``) were
    delivered; ``certificate``: the signer's certificate of a valid signature (its
    validity at the seal, ``ctx.now``, and its chain are checked when the agency must
    sign: ``hub.edxml.certificates``)."""
    if isinstance(parsed, EdxmlRefused):
        return _refused(ctx, pkg, parsed)
    senders = {caller.agency_code, pkg.source_code}
    if relays_sender(reg, caller.app.app_id, parsed.sender.organ_id):
        senders.add(parsed.sender.organ_id)  # a document relayed from the axis or a zone
    if isinstance(parsed, StatusPackage):
        problems = rules.check_status(parsed, senders)
        codes = [parsed.response_for.organ_id] if parsed.response_for.organ_id else []
        if links.recall_request(parsed, senders) and not problems:
            codes, problems = links.recall_destinations(pkg.recipients, earlier, reg)
    else:
        problems = rules.check_document(parsed, senders,
                                        lambda c: destination_id(reg, c) is not None)
        codes = relayed_codes(reg, caller.app.app_id,
                              list(dict.fromkeys(t.organ_id for t in parsed.recipients)))
        problems += _duplicates(parsed, held)
        problems += links.check_revoke(parsed, earlier, _ids(codes, reg))
        problems += _unsigned(reg.agencies.get(caller.app.agency_id), signature,
                              certificate, ctx)
    if not problems:
        problems += _recipients(pkg, caller, codes, reg)
        codes = one_per_destination(reg, codes)
    return _event(ctx, pkg, parsed, [str(p) for p in problems], codes=codes, reg=reg,
                  signature=(*signature, certificate),
                  earlier=links.linked(earlier, _ids(codes, reg)))


def _unsigned(sender: Agency | None, signature: tuple[str, str],
              certificate: Certificate | None, ctx: Context) -> list[rules.Problem]:
    """A document from an agency that must sign, without a valid signature, or signed
    with a certificate outside its validity period at the seal, not chained to a root
    the hub trusts, or that its trust list does not name (nor a CA it chains through)."""
    result, why = signature
    if sender is None or not sender.signing_required:
        return []
    if result == "valid":
        found = [] if certificate is None else certificates.problems(certificate, ctx.now)
        names = certificates.named(certificate) if certificate else ()
        if signing.untrusted(sender, names):
            found.append(rules.Problem(
                "signature_untrusted", "Signature",
                f"signed with a certificate (SHA-256 {names[0] if names else 'unknown'}) "
                f"that {sender.code}'s trust list does not name, nor a CA it chains to"))
        return found
    said = {"none": "the document carries no XML signature",
            "invalid": "its XML signature is invalid", "unverified": "its XML signature "
            "could not be verified"}.get(result, f"its XML signature is {result}")
    return [rules.Problem("signature_required", "Signature",
                          f"{sender.code} must send signed documents; {said}"
                          + (f" ({why})" if why else ""))]


def _ids(codes: list[str], reg: Registry) -> set[str]:
    """The agency ids the codes name today."""
    return {a.agency_id for a in map(reg.agency, codes) if a is not None}


def _recipients(pkg: Package, caller: Caller, codes: list[str],
                reg: Registry) -> list[rules.Problem]:
    """The document's recipients read as a JSON send reads its own
    (``hub.packages.decisions``): the agency each code reaches today (a closed code, its
    successor), granted by any of its codes, each agency once."""
    problems: list[rules.Problem] = []
    found = [(code, reg.agency(code)) for code in codes]
    reached = {code: destination_id(reg, code) for code in codes}
    named = {a for a in reached.values() if a is not None}
    sent = {a for a in (destination_id(reg, c) for c in pkg.recipients) if a is not None}
    if pkg.recipients and (sent != named or None in reached.values()):
        problems.append(rules.Problem(
            "recipients_disagree", "To", f"the send names {', '.join(pkg.recipients)}; the "
            f"document names {', '.join(codes) or 'nobody'}"))
    first: dict[str, str] = {}
    """Agency id -> the first code the document named it by."""
    grants = caller.app.grants
    for code, agency in found:
        if agency is None and destination_id(reg, code) is not None:
            if grants is None or not grants.allows_destination(code):  # another zone's
                problems.append(rules.Problem("recipient_not_granted", "To",
                                              f"this app may not send to {code}"))
        elif agency is None:
            problems.append(rules.Problem("unknown_recipient", "To",
                                          f"{code} is not an agency the hub can reach"))
        elif agency.agency_id in first:
            problems.append(rules.Problem(
                "duplicate_recipient", "To", f"{code} and {first[agency.agency_id]} are the "
                f"same agency, known today as {agency.code}"))
        elif grants is None or not any(grants.allows_destination(c) for c in agency.codes):
            problems.append(rules.Problem("recipient_not_granted", "To",
                                          f"this app may not send to {code}"))
        if agency is not None:
            first.setdefault(agency.agency_id, code)
    return problems


def _duplicates(doc: Document, held: Collection[str]) -> list[rules.Problem]:
    """A document already received by a destination is refused, unless it updates,
    replaces or revokes the one received (a revoking document may repeat its key)."""
    if doc.business_doc_type in rules.REPLACING | {links.REVOKE}:
        return []
    return [rules.Problem("duplicate_document", "To",
                          f"{code} already received {doc.code_number}/{doc.code_notation} "
                          f"of {doc.promulgation_date} from {doc.sender.organ_id}; send it "
                          "as an update (2) or replacement (3)")
            for code in sorted(held)]


def _bounded(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"too_many_problems document: "
                                      f"{len(problems) - MAX_PROBLEMS} more not listed"]


def _refused(ctx: Context, pkg: Package, refused: EdxmlRefused) -> ev.DocumentAnalysed:
    return ev.DocumentAnalysed(
        **ctx.envelope(), package_id=pkg.package_id, kind="unreadable",
        problems=[f"{refused.code} document: {refused.detail}"], sender_code="",
        document_id="", code_number="", code_notation="", promulgation_date="",
        document_type="", subject="", business_doc_type="", business_key="",
        signature="none", header="{}")


def _event(ctx: Context, pkg: Package, parsed: Document | StatusPackage, problems: list[str],
           *, codes: list[str], reg: Registry,
           signature: tuple[str, str, Certificate | None],
           earlier: list[str]) -> ev.DocumentAnalysed:
    """``earlier``: the packages of the documents this one revokes, updates or replaces
    (or whose recall it asks), shown in its view as ``earlier_packages``."""
    doc = parsed if isinstance(parsed, Document) else None
    found = [destination_id(reg, c) for c in codes]  # today's, as every send resolves it
    ids = [a for a in found if a is not None]
    return _clipped(ev.DocumentAnalysed(
        **ctx.envelope(), package_id=pkg.package_id,
        kind="document" if doc else "status", problems=_bounded(problems),
        sender_code=parsed.sender.organ_id, recipients=codes,
        recipient_agency_ids=ids if len(ids) == len(codes) else [],
        document_id=doc.document_id if doc else _answered(parsed),
        code_number=doc.code_number if doc else "",
        code_notation=doc.code_notation if doc else "",
        promulgation_date=doc.promulgation_date if doc else "",
        document_type=doc.type_name if doc else "", subject=doc.subject if doc else "",
        business_doc_type=doc.business_doc_type if doc else "",
        business_key=rules.business_key(doc) if doc else "",
        attachment_names=[a.name for a in doc.attachments] if doc else [],
        signature=signature[0] if parsed.signed else "none",
        earlier_package_ids=earlier,
        header=_header({**header_view(parsed, signature[:2], signature[2], ctx.now),
                        "earlier_packages": earlier})))


def _clip(text: str, most: int = CLIP) -> str:
    return text if len(text) <= most else text[:most] + "…"


def _clipped(e: ev.DocumentAnalysed) -> ev.DocumentAnalysed:
    """A refused document may hold values far longer than allowed (the reader bounds the
    whole header, not each value): the event keeps them short, so it stays small enough
    for any log (Kafka's default message limit is 1 MB)."""
    return replace(e, sender_code=_clip(e.sender_code), document_id=_clip(e.document_id),
                   code_number=_clip(e.code_number), code_notation=_clip(e.code_notation),
                   promulgation_date=_clip(e.promulgation_date),
                   document_type=_clip(e.document_type), subject=_clip(e.subject),
                   business_doc_type=_clip(e.business_doc_type),
                   business_key=_clip(e.business_key, 4 * CLIP),
                   problems=[_clip(p) for p in e.problems],
                   recipients=[_clip(c, 60) for c in e.recipients[:bounds.MAX_RECIPIENTS]],
                   attachment_names=[_clip(n) for n in e.attachment_names])


def _header(view: dict[str, Any]) -> str:
    text = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= MAX_HEADER_CHARS:
        return text
    return json.dumps({**_shortened(view), "truncated": True}, ensure_ascii=False,
                      separators=(",", ":"))


def _shortened(value: Any) -> Any:
    """Every text clipped, every list cut to its first hundred items."""
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, list):
        return [_shortened(v) for v in value[:100]]
    if isinstance(value, dict):
        return {k: _shortened(v) for k, v in value.items()}
    return value


def _answered(parsed: Document | StatusPackage) -> str:
    return parsed.response_for.document_id if isinstance(parsed, StatusPackage) else ""


def rejection(analysis: ev.DocumentAnalysed) -> str:
    """The reason a ``PackageRejected`` gives: every problem, one after the other."""
    count = len(analysis.problems)
    return f"{count} problem{'s' if count > 1 else ''}: " + "; ".join(analysis.problems)
