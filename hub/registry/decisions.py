"""Registry commands: check against the current registry, return the events to record.

Pure: nothing here writes. The caller records the events and, for a new key, wraps and
stores the secret, which is returned here only so it can be shown once.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import bounds
from hub import events as ev
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.registry.codes import AgencyCode
from hub.registry.model import App, AppState, Grants, Operation, Registry, Role
from hub.registry.webhook_targets import TargetPolicy

HMAC = "HMAC"
RSA = "RSA"


@dataclass(frozen=True)
class Context:
    """Who acts, when, and in which conversation: the envelope of the events made."""

    actor: str
    now: datetime
    correlation_id: str

    def envelope(self) -> ev.Envelope:
        return {
            "event_id": str(uuid.uuid4()),
            "occurred_at": self.now,
            "actor": self.actor,
            "correlation_id": self.correlation_id,
        }


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``secret`` is None for RSA keys (the private key stays with the app)."""

    event: ev.KeyIssued
    secret: str | None


def new_access_key() -> str:
    return "TRUC" + base64.b32encode(secrets.token_bytes(10)).decode()


def new_secret() -> str:
    return secrets.token_urlsafe(30)


def register_agency(
    reg: Registry, ctx: Context, code: str, name: str, domain: str, *,
    national_id: str | None = None, mail: str | None = None,
) -> ev.AgencyRegistered:
    """A new agency; a code ever registered (also a closed one, which still resolves to
    its successor) cannot be registered again."""
    parsed = AgencyCode.parse(code)
    name = checked_name(name)
    if reg.holder(str(parsed)) is not None:
        raise Conflict(f"agency {parsed} is already registered", code="agency_exists")
    parent = parsed.parent()
    return ev.AgencyRegistered(
        **ctx.envelope(),
        agency_id=str(uuid.uuid4()),
        code=str(parsed),
        name=name,
        parent_code=str(parent) if parent else None,
        account=f"{parsed}@{domain}",
        national_id=bounds.check_optional_text(national_id, "national_id", 100),
        mail=bounds.check_optional_text(mail, "mail", bounds.NAME),
    )


def checked_name(name: str) -> str:
    """An agency's name as every registry decision takes it (registered, renamed,
    carried on by a succession)."""
    return bounds.check_text(name, "name", bounds.NAME, code="invalid_name")


def register_app(
    reg: Registry, ctx: Context, agency_code: str, name: str, rsa_public_key_pem: str | None = None
) -> ev.AppRegistered:
    agency = reg.agency(str(AgencyCode.parse(agency_code)))
    if agency is None:
        raise NotFound(f"no agency with code {agency_code}", code="unknown_agency")
    # checked, but recorded exactly as given: the PEM is parsed later, byte for byte
    bounds.check_optional_text(rsa_public_key_pem, "rsa_public_key_pem", bounds.PUBLIC_KEY_PEM,
                               multiline=True, code="invalid_public_key")
    return ev.AppRegistered(
        **ctx.envelope(),
        app_id=str(uuid.uuid4()),
        agency_id=agency.agency_id,
        agency_code=agency.code,
        name=bounds.check_text(name, "name", bounds.NAME, code="invalid_name"),
        rsa_public_key_pem=rsa_public_key_pem,
    )


def parse_grants(operations: list[str], destinations: list[str], data_types: list[str]) -> Grants:
    known = {op.value for op in Operation}
    for field, items in (("operations", operations), ("destinations", destinations),
                         ("data_types", data_types)):
        bounds.check_count(items, field, bounds.MAX_GRANT_ITEMS, code="invalid_grant")
    odd = [t for t in data_types if not isinstance(t, str) or not bounds.DATA_TYPE.fullmatch(t)]
    if odd:
        raise InvalidRequest(f"data types are short lower-case names such as edxml or pdf: "
                             f"{odd[:10]!r}", code="invalid_grant", field="data_types")
    unknown = sorted(set(operations) - known)
    if unknown:
        raise InvalidRequest(
            f"unknown operations {unknown}; known: {sorted(known)}", code="invalid_grant"
        )
    codes = frozenset(str(AgencyCode.parse(c)) for c in destinations)
    return Grants(frozenset(operations or known), codes, frozenset(data_types))


def approve_app(
    reg: Registry, ctx: Context, app_id: str, grants: Grants
) -> tuple[ev.AppApproved, IssuedKey]:
    app = _app(reg, app_id)
    if app.state is not AppState.REGISTERED:
        raise Conflict(
            f"app {app_id} is {app.state}; only a registered app can be approved",
            code="invalid_app_state",
        )
    approved = ev.AppApproved(
        **ctx.envelope(),
        app_id=app.app_id,
        agency_id=app.agency_id,
        operations=sorted(grants.operations),
        allowed_destinations=sorted(grants.destinations),
        allowed_data_types=sorted(grants.data_types),
    )
    return approved, issue_key(ctx, app.app_id, app.rsa_public_key_pem)


def issue_key(
    ctx: Context,
    principal_id: str,
    rsa_public_key_pem: str | None = None,
    valid_from: datetime | None = None,
) -> IssuedKey:
    secret = None if rsa_public_key_pem else new_secret()
    event = ev.KeyIssued(
        **ctx.envelope(),
        key_id=str(uuid.uuid4()),
        app_id=principal_id,
        access_key=new_access_key(),
        algorithm=RSA if rsa_public_key_pem else HMAC,
        public_key_pem=rsa_public_key_pem,
        valid_from=valid_from or ctx.now,
    )
    return IssuedKey(event, secret)


def revoke_app(
    reg: Registry, ctx: Context, app_id: str, reason: str
) -> list[ev.AppRevoked | ev.KeyRevoked]:
    app = _app(reg, app_id)
    reason = bounds.check_text(reason, "reason", bounds.REASON, multiline=True)
    if app.state is AppState.REVOKED:
        raise Conflict(f"app {app_id} is already revoked", code="invalid_app_state")
    revoked: list[ev.AppRevoked | ev.KeyRevoked] = [
        ev.AppRevoked(
            **ctx.envelope(),
            app_id=app_id,
            agency_id=app.agency_id,
            reason=reason,
        )
    ]
    return revoked + revoke_keys(reg, ctx, app_id, reason)


def revoke_keys(
    reg: Registry, ctx: Context, principal_id: str, reason: str
) -> list[ev.AppRevoked | ev.KeyRevoked]:
    return [
        ev.KeyRevoked(
            **ctx.envelope(),
            key_id=k.key_id,
            app_id=principal_id,
            access_key=k.access_key,
            reason=reason,
        )
        for k in reg.keys_of(principal_id)
        if not k.revoked
    ]


def rotate_key(
    reg: Registry, ctx: Context, principal_id: str, overlap: timedelta
) -> tuple[IssuedKey, list[ev.KeyRetired]]:
    """A new key now; the current ones stay valid for ``overlap`` so callers can switch."""
    public_key = None
    if principal_id in reg.apps:
        app = _app(reg, principal_id)
        if app.state is not AppState.APPROVED:
            raise Conflict(
                f"app {principal_id} is {app.state}; only approved apps have keys",
                code="invalid_app_state",
            )
        public_key = app.rsa_public_key_pem
    elif principal_id not in reg.operators:
        raise NotFound(f"no app or operator {principal_id}", code="unknown_principal")
    check_overlap(overlap)
    until = ctx.now + overlap
    retired = [
        ev.KeyRetired(
            **ctx.envelope(),
            key_id=k.key_id,
            app_id=principal_id,
            access_key=k.access_key,
            valid_until=until,
        )
        for k in reg.keys_of(principal_id)
        if k.valid_at(ctx.now) and (k.valid_until is None or k.valid_until > until)
    ]
    return issue_key(ctx, principal_id, public_key), retired


def overlap_of(hours: float) -> timedelta:
    """The overlap of a key rotation, from hours as a caller gives them (``overlap_hours``)."""
    bounds.check_number(hours, "overlap_hours", 0, bounds.MAX_OVERLAP_HOURS)
    return timedelta(hours=hours)


def check_overlap(overlap: timedelta) -> None:
    if not timedelta(0) <= overlap <= timedelta(hours=bounds.MAX_OVERLAP_HOURS):
        raise bounds.refused("overlap_hours", f"must be between 0 and "
                                              f"{bounds.MAX_OVERLAP_HOURS} hours")


def register_operator(
    reg: Registry, ctx: Context, name: str, role: str, agency_code: str | None
) -> tuple[ev.OperatorRegistered, IssuedKey]:
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidRequest(
            f"unknown role {role!r}; one of {[r.value for r in Role]}", code="invalid_role"
        ) from None
    code = None
    if parsed_role is Role.AGENCY_ADMIN:
        if not agency_code or reg.agency(str(AgencyCode.parse(agency_code))) is None:
            raise InvalidRequest(
                "an agency-admin needs the code of a registered agency", code="unknown_agency"
            )
        code = str(AgencyCode.parse(agency_code))
    operator = ev.OperatorRegistered(
        **ctx.envelope(),
        operator_id=f"op-{uuid.uuid4()}",
        name=bounds.check_text(name, "name", bounds.NAME, code="invalid_name"),
        role=parsed_role.value,
        agency_code=code,
    )
    return operator, issue_key(ctx, operator.operator_id)


def _app(reg: Registry, app_id: str) -> App:
    app = reg.apps.get(app_id)
    if app is None:
        raise NotFound(f"no app {app_id}", code="unknown_app")
    return app


def configure_webhook(reg: Registry, ctx: Context, app_id: str, url: str,
                      policy: TargetPolicy) -> ev.WebhookConfigured:
    """Sets (or, with an empty url, removes) the app's webhook; the new secret's id is in
    the event, the secret itself goes to the key store. The URL must pass the operator's
    target policy (https, no internal address unless allowed)."""
    app = _app(reg, app_id)
    url = bounds.check_text(url, "url", bounds.URL, allow_empty=True, code="invalid_webhook")
    if url:
        policy.check_url(url)
    return ev.WebhookConfigured(
        **ctx.envelope(),
        app_id=app_id,
        agency_id=app.agency_id,
        url=url,
        key_id=f"webhook:{app_id}:{uuid.uuid4()}" if url else "",
    )
