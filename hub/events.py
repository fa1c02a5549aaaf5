"""The facts the hub records, one frozen dataclass per event type.

Each class mirrors exactly one Avro schema in ``schemas/<ClassName>.avsc`` (namespace
``vn.truc.events``); a test keeps the two in step. Events are immutable history: they
carry ids and codes *as they were at the time*, never the content bytes themselves.
Every event shares the four envelope fields of ``Event``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict


class Envelope(TypedDict):
    """The envelope fields as keyword arguments: ``SomeEvent(**envelope, ...)``."""

    event_id: str
    occurred_at: datetime
    actor: str
    correlation_id: str


@dataclass(frozen=True, kw_only=True)
class Event:
    """Envelope shared by every event: who did what, when, and in which conversation."""

    event_id: str
    occurred_at: datetime
    actor: str
    correlation_id: str


# --- registry -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgencyRegistered(Event):
    agency_id: str
    code: str
    name: str
    parent_code: str | None = None
    account: str
    national_id: str | None = None
    """v2: the agency's id in the national agency list it was imported from (``truc admin
    directory sync``); None for an agency an operator registered by hand."""
    mail: str | None = None
    """v2: the agency's mail address as the national list gives it."""


@dataclass(frozen=True, kw_only=True)
class AppRegistered(Event):
    app_id: str
    agency_id: str
    agency_code: str
    name: str
    rsa_public_key_pem: str | None = None


@dataclass(frozen=True, kw_only=True)
class AppApproved(Event):
    app_id: str
    agency_id: str
    operations: list[str]
    allowed_destinations: list[str]
    allowed_data_types: list[str]


@dataclass(frozen=True, kw_only=True)
class AppRevoked(Event):
    app_id: str
    agency_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class KeyIssued(Event):
    """A key became valid for a principal (``app_id`` names an app or an operator).
    The secret itself never enters the log: it is wrapped in the key store."""

    key_id: str
    app_id: str
    access_key: str
    algorithm: str
    public_key_pem: str | None = None
    valid_from: datetime
    valid_until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class KeyRetired(Event):
    """A rotated-out key stays valid until ``valid_until`` so callers can switch over."""

    key_id: str
    app_id: str
    access_key: str
    valid_until: datetime


@dataclass(frozen=True, kw_only=True)
class OperatorRegistered(Event):
    """An operator of the hub: ``admin``, ``auditor``, or ``agency-admin`` of one agency."""

    operator_id: str
    name: str
    role: str
    agency_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class WebhookConfigured(Event):
    """An app's webhook: notices are also POSTed there, signed with the key ``key_id``
    (kept wrapped in the key store). An empty ``url`` removes the webhook."""

    app_id: str
    agency_id: str
    url: str
    key_id: str


@dataclass(frozen=True, kw_only=True)
class KeyRevoked(Event):
    key_id: str
    app_id: str
    access_key: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class AgencySucceeded(Event):
    """Codes were closed and one agency carries on under ``code`` (a province merged, an
    agency re-coded: Decision 09/2025/QĐ-TTg). ``agency_id`` is the successor's stable id:
    the re-coded agency's own id, or the agency several old ones merge into (an existing
    agency, or one this event creates). From then on every old code resolves to it."""

    agency_id: str
    code: str
    name: str
    parent_code: str | None = None
    account: str
    old_codes: list[str]
    old_agency_ids: list[str]
    effective_at: datetime
    reason: str


@dataclass(frozen=True, kw_only=True)
class AgencyRenamed(Event):
    agency_id: str
    code: str
    name: str


@dataclass(frozen=True, kw_only=True)
class AgencyRemoved(Event):
    """The agency left the registry (gone from the national list): its apps' keys stop
    working, its code no longer resolves; its history stays in the log."""

    agency_id: str
    code: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ZoneConfigured(Event):
    """A peer hub serves these code patterns (``hub.zones``): packages for them are
    forwarded there. Replaces the zone's previous definition whole."""

    zone: str
    url: str
    access_key: str
    secret_id: str
    codes: list[str]
    branches: list[str]
    provinces: list[str]
    protocol: str = field(default_factory=lambda: "truc")
    """``truc`` (a peer hub), ``axis`` (the upstream national axis, default route) or
    ``held`` (this hub is that zone's axis: its documents wait here to be fetched)."""
    local_key: str = field(default_factory=str)
    """axis: the app here documents from the axis come from; held: the app that zone's
    hub is here."""


@dataclass(frozen=True, kw_only=True)
class ZoneRemoved(Event):
    """A peer hub no longer serves any code: nothing more is forwarded to it."""

    zone: str
    reason: str


# --- sending --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PackageRequested(Event):
    package_id: str
    source_agency_id: str
    source_agency_code: str
    source_app_id: str
    recipients: list[str]
    title: str
    priority: str
    data_type: str
    protocol: str
    declared_size: int
    declared_sha256: str
    idempotency_key: str | None = None
    recipient_agency_ids: list[str] = field(default_factory=list)
    """v2: the agency ids the recipient codes resolved to when the request was accepted."""
    trace: list[str] = field(default_factory=list)
    """v3: the hubs this package crossed before this one, oldest first (set by a hub that
    forwarded it, ``hub.zones``): a hub never takes a package that names it."""


@dataclass(frozen=True, kw_only=True)
class SpaceGranted(Event):
    package_id: str
    space_id: str
    chunk_size: int
    chunk_count: int
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class ChunkStored(Event):
    package_id: str
    index: int
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class PackageSealed(Event):
    package_id: str
    size: int
    sha256: str
    deadline: datetime | None = None
    offline_wait_seconds: int | None = None


@dataclass(frozen=True, kw_only=True)
class PackageRejected(Event):
    package_id: str
    reason_code: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DocumentAnalysed(Event):
    """The hub read a sealed package as edXML (QCVN 102:2016, Điều 9.4): what the header
    says, or every problem that makes the hub refuse it (a ``PackageRejected`` follows).
    ``header`` is the JSON view of the header (``GET /v1/packages/{id}/document``)."""

    package_id: str
    kind: str
    """``document`` or ``status`` (an edXML status package)."""
    problems: list[str] = field(default_factory=list)
    sender_code: str
    recipients: list[str] = field(default_factory=list)
    """The ``To`` codes of the document, in order."""
    recipient_agency_ids: list[str] = field(default_factory=list)
    document_id: str
    code_number: str
    code_notation: str
    promulgation_date: str
    document_type: str
    subject: str
    business_doc_type: str
    business_key: str
    attachment_names: list[str] = field(default_factory=list)
    signature: str
    """The XML signature: ``none`` (unsigned), ``valid``, ``invalid``, or ``unverified``
    (too large to canonicalise in memory)."""
    header: str
    earlier_package_ids: list[str] = field(default_factory=list)
    """The packages of the earlier documents this one revokes, updates or replaces (its
    ``ResponseFor``), or whose recall a status 13 asks, at the destinations concerned."""


# --- delivering -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeliveryPlanned(Event):
    package_id: str
    destination_agency_id: str
    destination_code: str
    priority: str
    deadline: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DeliveryNotified(Event):
    package_id: str
    destination_agency_id: str
    app_id: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class DeliveryFetched(Event):
    package_id: str
    destination_agency_id: str
    app_id: str


@dataclass(frozen=True, kw_only=True)
class DeliveryAcknowledged(Event):
    package_id: str
    destination_agency_id: str
    app_id: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class DeliveryExpired(Event):
    package_id: str
    destination_agency_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeliveryRecalled(Event):
    """The source cancelled one delivery; the destination may no longer fetch it."""

    package_id: str
    destination_agency_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeadlineExtended(Event):
    """The source moved one delivery's deadline; an expired delivery reopens."""

    package_id: str
    destination_agency_id: str
    deadline: datetime


@dataclass(frozen=True, kw_only=True)
class DeliveryRedirected(Event):
    """The source moved one delivery to another agency; a ``DeliveryPlanned`` follows."""

    package_id: str
    from_agency_id: str
    to_agency_id: str
    to_code: str


@dataclass(frozen=True, kw_only=True)
class StatusReported(Event):
    """A business status with the national code (01 arrived … 16 recall refused).

    Destinations report on their own delivery (01–06; 15/16 answer a recall). The source
    reports 13 (recall requested) on one of its deliveries, named by
    ``destination_agency_id``."""

    package_id: str
    agency_id: str
    agency_code: str
    status_code: str
    note: str | None = None
    destination_agency_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContentShredded(Event):
    package_id: str
    chunk_count: int
    size: int


# --- presence -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgencyConnected(Event):
    agency_id: str
    agency_code: str
    app_id: str
    node: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class AgencyDisconnected(Event):
    agency_id: str
    agency_code: str
    app_id: str
    node: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class NodeHeartbeat(Event):
    """An API node is alive. A node that crashes says nothing more, so the presence
    watchdog declares its connections lost after a few missed beats; ``started_at``
    changes when the node restarts, which also ends what its previous run held."""

    node: str
    started_at: datetime
    interval_ms: int


@dataclass(frozen=True, kw_only=True)
class AuditLinked(Event):
    """A link of the registry's audit chain (``hub/audit.py``): it follows one registry
    action in the action's partition, with the action's digest and the hash of the link
    before it, so that altering, removing or inserting an action shows."""

    key: str
    subject_event_id: str
    subject_type: str
    digest: str
    prev_hash: str
    hash: str


# --- alerts to people -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlertPolicySet(Event):
    """An agency's alert contacts and policy (``hub/alerts``), replacing any earlier one:
    whom to tell (mail addresses, webhook URLs) and when (a delivery to it waiting unfetched
    longer than ``unfetched_after_seconds``, a delivery from or to it expired — told
    ``expired_after_seconds`` after, usually 0 —, the agency offline longer than
    ``offline_after_seconds``; None: never). No contacts: no alerts."""

    agency_id: str
    agency_code: str
    emails: list[str] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    unfetched_after_seconds: int | None = None
    expired_after_seconds: int | None = None
    offline_after_seconds: int | None = None


@dataclass(frozen=True, kw_only=True)
class AlertRaised(Event):
    """The hub decided to tell an agency's people something (``hub.alerts.rules``). The
    event id is the alert id, derived from what the alert is about, so two sweeps (or one
    after a restart) deciding the same alert record the same event, which counts once."""

    alert_id: str
    agency_id: str
    kind: str
    """``unfetched``, ``expired`` or ``offline``."""
    package_id: str | None = None
    destination_agency_id: str | None = None
    since: datetime
    """When what the alert is about began: the delivery planned, expired, the agency
    offline."""
    detail: str
    contacts: list[str] = field(default_factory=list)
    """Whom to tell, as the policy said when it was raised: ``mailto:`` addresses and
    webhook URLs."""


@dataclass(frozen=True, kw_only=True)
class AlertSent(Event):
    """One attempt to tell one contact of an alert: ``sent``, ``failed`` (tried again at
    ``next_attempt_at``) or ``gave_up``."""

    alert_id: str
    agency_id: str
    contact: str
    outcome: str
    attempt: int
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SigningPolicySet(Event):
    """An operator set whether an agency's edXML documents must carry a valid XML
    signature (``signing``: ``required`` or ``optional``, the default)."""

    agency_id: str
    code: str
    signing: str
    certificates: list[str] = field(default_factory=list)
    """With ``required``: the SHA-256 (hex, of the DER) of each certificate the agency
    signs with, its trust list; empty: any certificate whose signature is valid."""



@dataclass(frozen=True, kw_only=True)
class FollowUpsDecided(Event):
    """What a sealed edXML package causes on other packages (a status it reports, the
    recall a revoke or a 13 makes), decided on seal and recorded in the seal's own batch,
    on the sealing package's key: a crash after the seal cannot lose them. The package
    processor appends each onto its package's key, with an id derived from this event's
    (``hub.packages.follow_ups``), so a processor that runs again appends the same ids
    and the package fold takes each once."""

    package_id: str
    follow_ups: list[str]
    """Each effect as JSON: ``type`` (``StatusReported`` or ``DeliveryRecalled``) and the
    event's own fields; its envelope derives from this event."""

EVENT_TYPES: tuple[type[Event], ...] = (
    AgencyRegistered, AppRegistered, AppApproved, AppRevoked, KeyIssued, KeyRetired, KeyRevoked,
    OperatorRegistered, WebhookConfigured,
    PackageRequested, SpaceGranted, ChunkStored, PackageSealed, PackageRejected,
    DeliveryPlanned, DeliveryNotified, DeliveryFetched, DeliveryAcknowledged, DeliveryExpired,
    StatusReported, ContentShredded, AgencyConnected, AgencyDisconnected, NodeHeartbeat,
    DeliveryRecalled, DeadlineExtended, DeliveryRedirected, DocumentAnalysed,
    AgencySucceeded, AgencyRenamed, AgencyRemoved,
    AuditLinked,
    AlertPolicySet, AlertRaised, AlertSent,
    ZoneConfigured, ZoneRemoved,
    SigningPolicySet,
    FollowUpsDecided,
)

EVENT_BY_NAME: dict[str, type[Event]] = {cls.__name__: cls for cls in EVENT_TYPES}
