"""Package commands: validate against the registry and the package, return the events.

Refusals never reveal whether a package exists to an agency that may not see it: every
such case is the same ``package_not_found`` (404).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hub import bounds
from hub import events as ev
from hub.auth.sessions import Caller, NotGranted, require
from hub.edxml.analysis import EDXML, rejection
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.packages.model import (
    PRIORITIES,
    RECALL_ANSWERS,
    RECALL_REQUESTED,
    Delivery,
    DeliveryState,
    Package,
    PackageState,
)
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.decisions import Context
from hub.registry.model import Operation, Registry
from hub.zones.decisions import destination_id, one_per_destination

SHA256 = re.compile(r"[0-9a-f]{64}")
"""Always ``fullmatch``: ``$`` would let a trailing newline through."""
DATA_TYPE = bounds.DATA_TYPE
STATUS_CODES = {
    "01": "arrived", "02": "refused", "03": "accepted/registered", "04": "assigned",
    "05": "processing", "06": "completed", "13": "recall requested",
    "15": "recall/update agreed", "16": "recall/update refused",
}


class Gone(Conflict):
    code = "space_expired"
    status = 410


@dataclass(frozen=True)
class Limits:
    max_package_bytes: int
    chunk_bytes: int
    space_ttl: timedelta
    hub_name: str = ""
    """This hub in a forwarded package's trace (``hub.zones``): a package whose trace
    names it already went round in a loop."""


@dataclass(frozen=True)
class SendRequest:
    recipients: list[str]
    title: str
    priority: str
    data_type: str
    protocol: str
    size: int
    sha256: str
    idempotency_key: str | None = None
    trace: tuple[str, ...] = ()
    """The hubs the package crossed before this one (a forwarding hub sends it)."""


_IDEMPOTENT_IDS = uuid.UUID("0b7f8e52-3d0c-4c39-9d0e-5c8f1e7a2b44")
_ONCE_IDS = uuid.UUID("5d0f3b8e-7a14-4c2e-9b61-2f8d4c7e1a93")
"""Namespace of the ids of events a package or delivery has once (``once_id``)."""


def new_package_id(app_id: str, idempotency_key: str | None) -> str:
    """A retried request with the same Idempotency-Key names the same package, even
    before the first one shows in any read model; without a key, a fresh id."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_IDEMPOTENT_IDS, f"{app_id}/{idempotency_key}"))


def check_same_request(earlier: Package, req: SendRequest) -> None:
    """A reused Idempotency-Key must come with the same request, or it is a mistake."""
    same = (earlier.title == _title(req.title) and earlier.size == req.size
            and earlier.sha256 == req.sha256 and earlier.priority == req.priority
            and earlier.data_type == req.data_type
            and (_from_document(req) or sorted(earlier.recipients) == sorted(req.recipients)))
    if not same:
        raise Conflict("this Idempotency-Key was used for a different request",
                       code="idempotency_key_reused", package_id=earlier.package_id)


def _from_document(req: SendRequest) -> bool:
    """An edXML send naming no recipients: the document's ``To`` names them, and the
    package recorded them once analysed, so a retry's empty list is the same request."""
    return not req.recipients and req.data_type == EDXML


def not_found() -> NotFound:
    return NotFound("no such package", code="package_not_found")


def request_package(reg: Registry, caller: Caller, ctx: Context, req: SendRequest,
                    limits: Limits) -> tuple[ev.PackageRequested, ev.SpaceGranted]:
    require(caller, Operation.SEND)
    req = bounded(req)
    recipients = [] if not req.recipients and req.data_type == EDXML else \
        _check_recipients(reg, caller, req.recipients)
    _check_request(caller, req, limits)
    check_trace(req.trace, limits.hub_name)
    package_id = new_package_id(caller.app.app_id, req.idempotency_key)
    requested = ev.PackageRequested(
        **_once(ctx, package_id, "requested"),
        package_id=package_id, source_agency_id=caller.app.agency_id,
        source_agency_code=caller.agency_code, source_app_id=caller.app.app_id,
        recipients=recipients, title=req.title, priority=req.priority,
        data_type=req.data_type, protocol=req.protocol, declared_size=req.size,
        declared_sha256=req.sha256, idempotency_key=req.idempotency_key,
        recipient_agency_ids=[_agency_id(reg, c) for c in recipients],
        trace=list(req.trace),
    )
    count = max(1, -(-req.size // limits.chunk_bytes))
    space = ev.SpaceGranted(
        **_once(ctx, package_id, "space"), package_id=package_id, space_id=package_id,
        chunk_size=limits.chunk_bytes, chunk_count=count, expires_at=ctx.now + limits.space_ttl,
    )
    return requested, space


def _once(ctx: Context, package_id: str, what: str) -> ev.Envelope:
    """The envelope of an event a package has once (its request, its space, its seal):
    its id derives from the package's, so a retry that decided again on a read model
    that did not show the first call's events yet (its claim expired while the processor
    was down; on Cassandra a row read before its logged batch landed) records the same
    id, which the fold applies once. Without an Idempotency-Key a retry is another
    package, with another id."""
    return _identified(ctx, once_id(package_id, what))


def _identified(ctx: Context, event_id: str) -> ev.Envelope:
    envelope = ctx.envelope()
    envelope["event_id"] = event_id
    return envelope


def once_id(package_id: str, what: str) -> str:
    return str(uuid.uuid5(_ONCE_IDS, f"{package_id}/{what}"))


MAX_TRACE = 16
"""Hubs a package may cross: a longer trace is a loop the names did not show."""


def check_trace(trace: tuple[str, ...], hub_name: str) -> None:
    """No loops: a package that already crossed this hub is refused (409
    ``forwarding_loop``), as one that crossed too many."""
    for name in trace:
        bounds.check_token(name, "trace", 100, code="invalid_trace")
    if len(trace) > MAX_TRACE or (hub_name and hub_name in trace):
        raise Conflict(f"this package already crossed {' → '.join(trace)}: forwarding it "
                       f"here again would loop", code="forwarding_loop", trace=list(trace))


class TooLargeForOneCall(InvalidRequest):
    code = "too_large_for_one_call"
    status = 413


def still_to_open(earlier: Package | None, requested: ev.PackageRequested,
                  space: ev.SpaceGranted) -> list[ev.Event]:
    """What a send request (chunked or in one call) still has to record, given what an
    earlier call with the same Idempotency-Key recorded: both events for a new package,
    the space alone for one cut between its two appends (the retry grants it), nothing
    once the space is granted."""
    if earlier is None:
        return [requested, space]
    return [] if earlier.space_expires_at is not None else [space]


def one_chunk(space: ev.SpaceGranted, limits: Limits) -> None:
    """A package sent in one call has content that fits one chunk; larger content goes
    the chunked, resumable way (request, chunks, seal)."""
    if space.chunk_count != 1:
        raise TooLargeForOneCall(
            f"content sent in one call has at most {limits.chunk_bytes} bytes; send larger "
            "content in chunks (POST /v1/packages, then its chunks, then seal)",
            limit=limits.chunk_bytes)


def _title(title: str) -> str:
    """The title as recorded (NFC, stripped); a title that cannot be recorded compares
    unequal to every recorded one."""
    try:
        return bounds.check_text(title, "title", bounds.TITLE, allow_empty=True)
    except InvalidRequest:
        return "\x00"


def bounded(req: SendRequest) -> SendRequest:
    """The request with its text as it will be recorded, or ``InvalidRequest`` naming the
    first field the log could not hold (``hub.bounds``)."""
    bounds.check_count(req.recipients, "recipients", bounds.MAX_RECIPIENTS)
    for code in req.recipients:
        bounds.check_text(code, "recipients", 40)
    key = req.idempotency_key
    return replace(
        req, title=bounds.check_text(req.title, "title", bounds.TITLE,
                                     code="invalid_package_request"),
        protocol=bounds.check_token(req.protocol, "protocol", bounds.PROTOCOL),
        size=bounds.check_int(req.size, "size", 1, bounds.LONG_MAX,
                              code="invalid_package_request"),
        idempotency_key=None if key is None else bounds.check_token(
            key, "idempotency_key", bounds.IDEMPOTENCY_KEY, code="invalid_idempotency_key"))


def _agency_id(reg: Registry, code: str) -> str:
    """The destination's agency id here, or its peer id when another zone serves it."""
    found = destination_id(reg, code)
    assert found is not None, "checked by _check_recipients"
    return found


def _check_recipients(reg: Registry, caller: Caller, codes: list[str]) -> list[str]:
    if not codes:
        raise InvalidRequest("name at least one recipient agency", code="no_recipients")
    unknown, found, remote = [], [], []
    for code in codes:
        try:
            named = str(AgencyCode.parse(code))
        except InvalidAgencyCode:
            unknown.append(code)
            continue
        agency = reg.agency(named)
        if agency is not None:
            found.append(agency)
        elif destination_id(reg, named) is not None:
            remote.append(named)  # another zone's: forwarded to its hub
        else:
            unknown.append(code)
    if unknown:
        raise InvalidRequest(f"unknown recipients: {', '.join(unknown)}",
                             code="unknown_recipients", unknown=unknown)
    grants = caller.app.grants
    refused = [a.code for a in found if grants is None
               or not any(grants.allows_destination(c) for c in a.codes)]
    refused += [c for c in remote if grants is None or not grants.allows_destination(c)]
    if refused:
        raise NotGranted(f"this app may not send to {', '.join(refused)}", refused=refused)
    return one_per_destination(reg, list(dict.fromkeys([*(a.code for a in found), *remote])))


def _check_request(caller: Caller, req: SendRequest, limits: Limits) -> None:
    problems = []
    if req.priority not in PRIORITIES:
        problems.append(f"priority must be one of {', '.join(PRIORITIES)}")
    if not DATA_TYPE.fullmatch(req.data_type):
        problems.append("data_type must be a short lower-case name such as edxml or pdf")
    if not 0 < req.size <= limits.max_package_bytes:
        problems.append(f"size must be between 1 and {limits.max_package_bytes} bytes")
    if not SHA256.fullmatch(req.sha256):
        problems.append("sha256 must be 64 lower-case hex digits")
    if problems:
        raise InvalidRequest("; ".join(problems), code="invalid_package_request",
                             problems=problems)
    grants = caller.app.grants
    if grants is None or not grants.allows_data_type(req.data_type):
        raise NotGranted(f"this app may not send data type {req.data_type}")


def visible(pkg: Package | None, caller: Caller) -> Package:
    """The package if the caller's agency is its source or one of its destinations."""
    if pkg is None or not (pkg.source_agency_id == caller.app.agency_id
                           or caller.app.agency_id in pkg.deliveries):
        raise not_found()
    return pkg


def own_upload(pkg: Package | None, caller: Caller, now: datetime) -> Package:
    """The package whose space the caller may still upload into."""
    if pkg is None or pkg.source_agency_id != caller.app.agency_id:
        raise not_found()
    if pkg.state is not PackageState.UPLOADING:
        raise Conflict(f"the package is {pkg.state}; its space is closed", code="space_closed")
    if pkg.space_expires_at and now >= datetime.fromisoformat(pkg.space_expires_at):
        raise Gone("the upload space has expired; request a new one")
    return pkg


def check_chunk(pkg: Package, index: int, size: int, declared: str, actual: str) -> None:
    if not 0 <= index < pkg.chunk_count:
        raise InvalidRequest(f"chunk index must be 0..{pkg.chunk_count - 1}",
                             code="chunk_out_of_range")
    expected = pkg.size - index * pkg.chunk_size if index == pkg.chunk_count - 1 \
        else pkg.chunk_size
    if size != expected:
        raise InvalidRequest(f"chunk {index} must have {expected} bytes, not {size}",
                             code="chunk_size_mismatch", expected=expected)
    if declared.lower() != actual:
        raise InvalidRequest(f"chunk {index} does not match its SHA-256",
                             code="chunk_digest_mismatch", computed=actual)


def chunk_stored(ctx: Context, pkg: Package, index: int, size: int,
                 digest: str) -> ev.ChunkStored:
    return ev.ChunkStored(**ctx.envelope(), package_id=pkg.package_id, index=index, size=size,
                          sha256=digest)


def missing_chunks(pkg: Package, stored: list[int]) -> list[int]:
    return sorted(set(range(pkg.chunk_count)) - set(stored))


def seal(ctx: Context, pkg: Package, stored: list[int], digest: str | None, *,
         deadline: datetime | None, offline_wait_seconds: int | None,
         analysis: ev.DocumentAnalysed | None = None
         ) -> ev.PackageSealed | ev.PackageRejected:
    """Sealed if every chunk is there, the whole content matches its declared digest, and
    an edXML package's ``analysis`` found no problem (``hub.edxml.analysis``)."""
    missing = missing_chunks(pkg, stored)
    if missing:
        raise Conflict(f"missing chunks: {missing[:20]}", code="chunks_missing",
                       missing=missing[:1000])
    if deadline is not None:
        deadline = bounds.check_deadline(deadline, ctx.now, code="invalid_policy")
    if offline_wait_seconds is not None:
        bounds.check_int(offline_wait_seconds, "offline_wait_seconds", 0,
                         bounds.MAX_OFFLINE_WAIT_SECONDS, code="invalid_policy")
    # a package is sealed (or refused at its seal) once: a seal decided again is the same
    sealing = _once(ctx, pkg.package_id, "sealing")
    if digest != pkg.sha256:
        return ev.PackageRejected(**sealing, package_id=pkg.package_id,
                                  reason_code="digest_mismatch",
                                  reason=f"content SHA-256 is {digest}, declared {pkg.sha256}")
    if analysis is not None and analysis.problems:
        return ev.PackageRejected(**sealing, package_id=pkg.package_id,
                                  reason_code="edxml_invalid", reason=rejection(analysis))
    return ev.PackageSealed(**sealing, package_id=pkg.package_id, size=pkg.size,
                            sha256=pkg.sha256, deadline=deadline,
                            offline_wait_seconds=offline_wait_seconds)


def own_delivery(pkg: Package | None, caller: Caller) -> Package:
    """The package if the caller's agency is one of its destinations and it is deliverable."""
    if pkg is None or caller.app.agency_id not in pkg.deliveries:
        raise not_found()
    require(caller, Operation.RECEIVE)
    return pkg


def check_not_withdrawn(pkg: Package, caller: Caller) -> None:
    """A recalled or redirected delivery is no longer the destination's to fetch: 410."""
    state = pkg.deliveries[caller.app.agency_id].state
    if state.withdrawn:
        raise Gone(f"the source {'recalled' if state is DeliveryState.RECALLED else 'redirected'}"
                   " this delivery", code=f"delivery_{state.value}")


def fetched(ctx: Context, pkg: Package, caller: Caller) -> ev.DeliveryFetched | None:
    check_not_withdrawn(pkg, caller)
    if pkg.shredded:
        raise Gone("the content was destroyed after delivery completed", code="content_shredded")
    state = pkg.deliveries[caller.app.agency_id].state
    if state in (DeliveryState.PLANNED, DeliveryState.NOTIFIED):
        return ev.DeliveryFetched(**ctx.envelope(), package_id=pkg.package_id,
                                  destination_agency_id=caller.app.agency_id,
                                  app_id=caller.app.app_id)
    return None


def acknowledge(ctx: Context, pkg: Package, caller: Caller,
                digest: str) -> ev.DeliveryAcknowledged | None:
    """The acknowledgement to record, or None when it is already recorded with this very
    digest: a retried ack (its first answer lost, or a 503 after it was recorded) is
    answered like the first and records nothing new. Another digest is a 409."""
    check_not_withdrawn(pkg, caller)
    delivery = pkg.deliveries[caller.app.agency_id]
    if not isinstance(digest, str) or not SHA256.fullmatch(digest.lower()):
        raise InvalidRequest("sha256 must be 64 hex digits", code="invalid_digest")
    if delivery.state is DeliveryState.ACKNOWLEDGED:
        if digest.lower() == pkg.sha256:
            return None
        raise Conflict("this delivery is already acknowledged, with the package's SHA-256; "
                       "the one you sent differs", code="already_acknowledged")
    if delivery.state is DeliveryState.EXPIRED:
        raise Conflict("this delivery has expired", code="delivery_expired")
    if digest.lower() != pkg.sha256:
        raise Conflict("the SHA-256 you computed does not match the package; fetch it again",
                       code="digest_mismatch")
    return ev.DeliveryAcknowledged(**_identified(ctx, ack_id(pkg, delivery)),
                                   package_id=pkg.package_id,
                                   destination_agency_id=caller.app.agency_id,
                                   app_id=caller.app.app_id, sha256=pkg.sha256)


def ack_id(pkg: Package, delivery: Delivery) -> str:
    """A delivery is acknowledged once, so its acknowledgement's id is the delivery's:
    an ack decided again on a read model that did not show the first yet (its claim
    expired while it was answered 503; on Cassandra a row read just before its logged
    batch landed) records the same id, which the fold and the checker count once. A
    delivery planned again (a redirect back, a reopened expiry) is another delivery."""
    return once_id(pkg.package_id,
                   f"ack/{delivery.agency_id}/{delivery.planned_at}/{delivery.generation}")


def report_status(ctx: Context, pkg: Package | None, caller: Caller, code: str, *,
                  note: str | None = None, destination: str | None = None
                  ) -> ev.StatusReported:
    """A destination reports on its own delivery: 01–06, and 15/16 to answer a recall the
    source requested. The source reports 13 (recall requested) on a delivery it names:
    the business recall of a document already received, which the destination's system
    agrees to (15) or refuses (16). Recalling what was not yet fetched is the hub's own
    recall (``hub.deadlines.actions.recall``)."""
    if code not in STATUS_CODES:
        raise InvalidRequest(f"status code must be one of {sorted(STATUS_CODES)}",
                             code="invalid_status_code", field="code")
    note = bounds.check_optional_text(note, "note", bounds.NOTE, multiline=True)
    mine = caller.app.agency_id
    if pkg is not None and pkg.source_agency_id == mine and mine not in pkg.deliveries:
        return _source_report(ctx, pkg, caller, code, note=note, destination=destination)
    pkg = own_delivery(pkg, caller)
    require(caller, Operation.REPORT_STATUS)
    if code == RECALL_REQUESTED:
        raise InvalidRequest("13 (recall requested) is reported by the source",
                             code="status_not_yours")
    if pkg.deliveries[mine].state.withdrawn:
        raise Conflict(f"the source {pkg.deliveries[mine].state.value} this delivery; its "
                       "former destination no longer reports on it", code="delivery_closed")
    if code in RECALL_ANSWERS and not pkg.deliveries[mine].recall_pending:
        raise Conflict(f"{code} answers a recall request (13), and none is waiting",
                       code="no_recall_requested")
    return ev.StatusReported(**ctx.envelope(), package_id=pkg.package_id, agency_id=mine,
                             agency_code=caller.agency_code, status_code=code, note=note)


def _source_report(ctx: Context, pkg: Package, caller: Caller, code: str, *,
                   note: str | None, destination: str | None) -> ev.StatusReported:
    require(caller, Operation.REPORT_STATUS)
    if code != RECALL_REQUESTED:
        raise InvalidRequest(f"the source reports only {RECALL_REQUESTED} (recall requested); "
                             f"{code} is the destination's to report", code="status_not_yours")
    delivery = _named_delivery(pkg, destination)
    if delivery.state.withdrawn:
        raise Conflict(f"this delivery was {delivery.state.value}", code="delivery_closed")
    if delivery.recall_pending:
        raise Conflict("a recall request (13) already waits for the destination's answer",
                       code="recall_pending")
    return ev.StatusReported(**ctx.envelope(), package_id=pkg.package_id,
                             agency_id=caller.app.agency_id, agency_code=caller.agency_code,
                             status_code=code, note=note, destination_agency_id=delivery.agency_id)


def _named_delivery(pkg: Package, destination: str | None) -> Delivery:
    if not destination:
        raise InvalidRequest("name the delivery the recall concerns: destination (an agency "
                             "code)", code="destination_required")
    for delivery in pkg.deliveries.values():
        if delivery.code == destination:
            return delivery
    raise NotFound(f"the package has no delivery to {destination}", code="delivery_not_found")
