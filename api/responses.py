"""The shapes of the API's answers, as pydantic models: the OpenAPI contract (``/openapi.json``)
a client is generated from (docs/integrating.md, *Generating a client*).

The routes still build plain dicts (``api.views``, ``package_view``…): FastAPI validates
each answer against its route's ``response_model`` before it is sent. The models of the
exchange and of the registry forbid fields they do not name (``Strict``), so a view that
grows a field without its model fails the tests loudly instead of being filtered out
silently; the operator reports, whose rows grow with the statistics, name their known
fields and allow more (``Open``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- problems ---------------------------------------------------------------------------

class FieldError(Open):
    loc: list[str | int] = Field(description="Where: body, query, header or path, then names.")
    msg: str


class Problem(Open):
    """An RFC 9457 problem (``application/problem+json``); some codes add fields of their own
    (docs/integrating.md, *Errors*)."""

    type: str = Field(description="https://truc.dev/problems/<code>")
    title: str = Field(description="The code in words, the same for every problem of a type.")
    status: int
    code: str = Field(description="Stable: program against it.")
    detail: str = Field(description="What went wrong in this request, for a person.")
    retriable: bool = Field(description="True only when trying again later can succeed.")
    errors: list[FieldError] | None = Field(
        None, description="invalid_request: each part of the request that does not match.")


# --- packages ---------------------------------------------------------------------------

class Space(Strict):
    package_id: str
    state: str
    chunk_size: int
    chunk_count: int
    upload_url: str = Field(description="Template: replace {index} with the chunk's index.")
    expires_at: str | None
    received: list[int] | None = Field(None, description="GET …/space: chunks the hub has.")
    missing: list[int] | None = Field(None, description="GET …/space: chunks still to upload.")
    successors: dict[str, str] | None = Field(
        None, description="POST /v1/packages: recipients named by a closed code → the code "
                          "their successor holds now.")


class StoredChunk(Strict):
    package_id: str
    index: int
    size: int
    sha256: str


class StatusEntry(Strict):
    code: str
    at: str


class DeliveryView(Strict):
    agency_code: str
    state: str
    planned_at: str | None
    deadline: str | None
    reason: str | None
    no_receiver_until: str | None = Field(
        description="Source only: the destination has no receiving app yet; the hub waits "
                    "until then.")
    statuses: list[StatusEntry]


class PackageWarning(Strict):
    code: Literal["no_receiver"]
    destination: str
    until: str
    detail: str


class TimelineStep(Strict):
    at: str
    what: str
    detail: str | None
    agency_code: str | None


class PackageView(Strict):
    package_id: str
    title: str
    state: str
    priority: str
    data_type: str
    size: int
    sha256: str
    source: str
    requested_at: str
    deadline: str | None
    rejection: str | None
    shredded: bool
    recipients: list[str] | None = Field(description="Source only (null for a destination).")
    successors: dict[str, str] | None = Field(
        None, description="POST /v1/packages/send: recipients named by a closed code → the "
                          "code their successor holds now.")
    deliveries: list[DeliveryView]
    warnings: list[PackageWarning]
    timeline: list[TimelineStep]


class PackageRejected(Problem):
    """422 ``package_rejected``: the seal found the content wrong; ``package`` as it is now."""

    package: PackageView


class InboxItem(Strict):
    package_id: str
    title: str
    priority: str
    data_type: str
    size: int
    sha256: str
    source: str
    state: str
    requested_at: str
    delivery_state: str


# --- access -----------------------------------------------------------------------------

class Signing(Strict):
    provider: str
    date_header: str
    content_header: str
    algorithms: list[str]


class HubTime(Strict):
    now: str
    epoch_ms: int
    region: str
    service: str
    max_skew_seconds: int
    signing: Signing


class Grants(Strict):
    operations: list[str]
    destinations: list[str]
    data_types: list[str]


class KeyView(Strict):
    key_id: str
    access_key: str
    algorithm: str
    valid_from: str
    valid_until: str | None
    revoked: bool


class NewKey(KeyView):
    secret_key: str | None = Field(description="Shown in this answer only; null for an RSA "
                                               "app, which signs with its private key.")


class AppView(Strict):
    app_id: str
    name: str
    state: str
    agency_id: str
    agency_code: str | None
    signing: Literal["RSA", "HMAC"]
    registered_at: str
    grants: Grants | None
    keys: list[KeyView]


class ApprovedApp(AppView):
    key: NewKey


class AgencyView(Strict):
    agency_id: str
    code: str
    name: str
    parent_code: str | None
    account: str | None
    registered_at: str
    former_codes: list[str] = Field(default_factory=list,
                                    description="Codes it had before (successions).")
    merged_into: str | None = Field(None, description="The agency it was merged into.")
    signing: str = Field("optional", description="required: its edXML documents must carry "
                         "a valid XML signature; optional: signatures are shown only.")
    certificates: list[str] = Field(default_factory=list, description="With signing "
                                    "required: the SHA-256 of each certificate it signs "
                                    "with (its trust list); empty: any certificate.")


class WhoAmI(Strict):
    app: AppView
    agency: AgencyView
    access_key: str


class Session(Strict):
    token: str
    token_type: Literal["Bearer"]
    expires_at: int
    expires_in: int
    source: str
    destination: str
    operations: list[str]
    session_id: str


class Introspection(Strict):
    active: bool
    sub: str | None = None
    src: str | None = None
    dst: str | None = None
    scope: str | None = None
    exp: int | None = None
    iat: int | None = None
    jti: str | None = None
    iss: str | None = None


class Jwks(Open):
    keys: list[dict[str, Any]]


class Webhook(Strict):
    url: str | None
    secret: str | None
    signature: str


# --- operators --------------------------------------------------------------------------

class OperatorView(Strict):
    operator_id: str
    name: str
    role: str
    agency_code: str | None
    registered_at: str


class NewOperatorView(OperatorView):
    key: NewKey


class RotatedKey(Strict):
    principal_id: str
    key: NewKey


class DeadLetters(Open):
    count: int
    dead_letters: list[dict[str, Any]]


# --- presence and reports ---------------------------------------------------------------

class Presence(Open):
    agency_code: str
    name: str
    online: bool
    since: str | None
    connections: int


class AgencyPresenceView(Presence):
    apps: list[dict[str, Any]]


class Connection(Open):
    at: str
    kind: str
    agency_code: str


class Statistics(Open):
    agency: str
    name: str
    from_: str = Field(alias="from")
    to: str
    by: str
    rows: list[dict[str, Any]]
    total: dict[str, Any]


class AllStatistics(Open):
    from_: str = Field(alias="from")
    to: str
    agencies: list[Statistics]


class HistoryEntry(Open):
    package_id: str


class Health(Open):
    status: Literal["ok", "degraded"]
    backend: str
    engines: dict[str, dict[str, Any]]
    down: list[str]
    dead_letters: dict[str, Any] | None


class DocumentView(Strict):
    """``GET …/document``: the edXML header the hub read on seal (docs/edxml.md)."""

    package_id: str
    problems: list[Any] = Field(description="What the analysis found (empty: accepted).")
    document: dict[str, Any] = Field(description="From, To, Code, PromulgationInfo, … and "
                                                 "each attachment with its download URL.")


# --- alerts -----------------------------------------------------------------------------

class AlertPolicyView(Strict):
    agency_id: str
    agency_code: str
    emails: list[str]
    webhooks: list[str]
    unfetched_after_seconds: int | None = Field(
        description="Alert when a delivery to the agency waits unfetched this long.")
    expired_after_seconds: int | None = Field(
        description="Alert this long after a delivery from or to the agency expired.")
    offline_after_seconds: int | None = Field(
        description="Alert when the agency stays offline this long.")
    set_at: str | None
    active: bool = Field(description="Whether it tells anybody of anything.")


class AlertContactView(Strict):
    contact: str = Field(description="mailto: address or webhook URL.")
    outcome: str | None = Field(description="sent, failed, gave_up; null: not tried yet.")
    attempts: int


class AlertView(Strict):
    alert_id: str
    agency_id: str
    agency_code: str | None
    kind: Literal["unfetched", "expired", "offline"] | str
    package_id: str | None
    since: str
    raised_at: str
    detail: str
    state: str = Field(description="raised, sent, failed (retrying) or gave_up.")
    contacts: list[AlertContactView]
