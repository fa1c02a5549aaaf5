"""Who is calling: from a signed request to an app or an operator, or a refusal.

The order of checks is the order of what a client can fix: a malformed header, an
unknown or revoked key, an app that is not approved, then the signature itself (which
says what it expected), then replay. No refusal says anything about packages or agencies.

It comes in two steps so that the body is read only for a caller with credentials:
:func:`admit` from the headers (the whole signature when the content header is sent),
then :func:`complete` with the body's hash. ``docs/operating.md`` (*Limits and timeouts*).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.auth.signing import (
    UNSIGNED_PAYLOAD,
    AuthError,
    Authorization,
    HttpRequest,
    RsaVerifier,
    check_before_body,
    parse_authorization,
    provider_of,
    verify_signature,
)
from hub.errors import TrucError
from hub.ports import ReplayGuard
from hub.registry.model import App, AppState, Key, Operator
from hub.registry.service import RegistryService

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Forbidden(TrucError):
    code = "forbidden"
    status = 403


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: exactly one of ``app`` and ``operator`` is set."""

    key: Key
    app: App | None = None
    operator: Operator | None = None
    agency_code: str | None = None


@dataclass(frozen=True)
class SigningPolicy:
    region: str
    service: str
    max_skew: timedelta
    rsa_verifier: RsaVerifier
    hosts: frozenset[str] = frozenset()
    """The hub's public host names, lower case, each with or without a port
    (``TRUC_PUBLIC_HOSTS``): the signed Host must be one of them. Empty: any host, for a
    hub that does not know the names it is reached by."""


def check_host(req: HttpRequest, hosts: frozenset[str]) -> None:
    """A request signed for another host (another hub that shares keys, a staging name)
    is refused as ``wrong_host``, whatever its signature."""
    if not hosts:
        return
    host = (req.header("host") or "").strip().lower()
    name = host if host.endswith("]") else host.rpartition(":")[0] or host
    if host not in hosts and name not in hosts:
        raise AuthError(f"this hub answers to {', '.join(sorted(hosts))}, not to Host "
                        f"{host!r}; sign requests for the hub's own name", code="wrong_host")


@dataclass(frozen=True)
class Admitted:
    """A caller whose headers passed: who it is, and what is left to check on the body.

    ``claimed`` is the signed content header: a SHA-256 (the signature is verified
    already; the body must hash to it), ``UNSIGNED-PAYLOAD`` (nothing left but replay), or
    None (the signature covers the hash of a body not read yet: verified after it)."""

    principal: Principal
    auth: Authorization
    req: HttpRequest
    secret: str | None
    claimed: str | None

    @property
    def wants_body_hash(self) -> bool:
        return self.claimed != UNSIGNED_PAYLOAD


async def authenticate(req: HttpRequest, *, registry: RegistryService, replay: ReplayGuard,
                       policy: SigningPolicy, now: datetime,
                       allow_unsigned_payload: bool = True, once: bool = False) -> Principal:
    """:func:`admit` then :func:`complete`, for a request whose body hash is known.
    ``once``: see :func:`complete`."""
    admitted = await admit(req, registry=registry, policy=policy, now=now,
                           allow_unsigned_payload=allow_unsigned_payload)
    return await complete(admitted, req.payload_sha256, replay=replay, policy=policy, now=now,
                          once=once)


async def admit(req: HttpRequest, *, registry: RegistryService, policy: SigningPolicy,
                now: datetime, allow_unsigned_payload: bool) -> Admitted:
    """Everything that can be checked before the body is read, so that a caller without
    valid credentials is refused before it can make the hub read (or parse) anything.

    ``req.payload_sha256`` is not used: the body has not been read."""
    header = req.header("authorization")
    if not header:
        raise AuthError("sign the request (Authorization: TRUC4-HMAC-SHA256 … or "
                        "AWS4-HMAC-SHA256 …); "
                        "see GET /v1/time for the region and service", code="missing_signature")
    auth = parse_authorization(header)
    check_host(req, policy.hosts)
    if registry.registry.key(auth.access_key) is None:
        await registry.catch_up(seconds=2)  # a key this node has not seen may be brand new
    key = _usable_key(registry, auth.access_key, now)
    principal = _principal(registry, key)
    secret = None if key.public_key_pem else await registry.secret(key)
    provider = provider_of(auth.algorithm)
    claimed = req.header(provider.content_header)
    if claimed is None:
        check_before_body(req, auth, secret=secret, public_key_pem=key.public_key_pem, now=now,
                          max_skew=policy.max_skew, region=policy.region,
                          service=policy.service, provider=provider)
    else:  # the signature covers the claim: verified now, the body checked against it later
        signed = req if req.payload_sha256 == claimed else req.with_payload(claimed)
        verify_signature(signed, auth, secret=secret,
                         public_key_pem=key.public_key_pem, rsa_verifier=policy.rsa_verifier,
                         now=now, max_skew=policy.max_skew, region=policy.region,
                         service=policy.service, allow_unsigned_payload=allow_unsigned_payload,
                         provider=provider)
    return Admitted(principal, auth, req, secret, claimed)


async def complete(admitted: Admitted, body_sha256: str, *, replay: ReplayGuard,
                   policy: SigningPolicy, now: datetime, once: bool = False) -> Principal:
    """The rest, once the body is read: its hash against the signed claim (or the whole
    signature, when there was no claim), then replay. ``once``: the signature is accepted
    only once even if the method is idempotent — for a PUT whose every call changes
    something (``PUT /v1/webhook`` issues a new secret each time)."""
    auth, claimed = admitted.auth, admitted.claimed
    if claimed is None:
        key = admitted.principal.key
        verify_signature(admitted.req.with_payload(body_sha256), auth,
                         secret=admitted.secret, public_key_pem=key.public_key_pem,
                         rsa_verifier=policy.rsa_verifier, now=now, max_skew=policy.max_skew,
                         region=policy.region, service=policy.service,
                         provider=provider_of(auth.algorithm))
    elif claimed != UNSIGNED_PAYLOAD and not hmac.compare_digest(
            claimed.lower().encode(), body_sha256.lower().encode()):
        raise AuthError(f"The content SHA-256 header is {claimed!r} but the body's SHA-256 is "
                        f"{body_sha256}.", code="payload_mismatch")
    if (once or admitted.req.method.upper() not in IDEMPOTENT) and not await replay.first_seen(
            auth.signature, now + policy.max_skew * 2):
        raise AuthError("this signed request was already received; sign every request anew",
                        code="replayed_request")
    return admitted.principal


def _usable_key(registry: RegistryService, access_key: str, now: datetime) -> Key:
    key = registry.registry.key(access_key)
    if key is None:
        raise AuthError("unknown access key", code="unknown_access_key")
    if key.revoked:
        raise AuthError("this key has been revoked", code="key_revoked")
    if not key.valid_at(now):
        raise AuthError("this key is not valid now (rotated out or not yet valid)",
                        code="key_expired")
    return key


def _principal(registry: RegistryService, key: Key) -> Principal:
    reg = registry.registry
    operator = reg.operators.get(key.principal_id)
    if operator is not None:
        return Principal(key, operator=operator, agency_code=operator.agency_code)
    app = reg.apps.get(key.principal_id)
    if app is None or app.state is not AppState.APPROVED:
        raise Forbidden("this app is not approved", code="app_not_approved")
    agency = reg.agencies.get(app.agency_id)
    if agency is None:  # AgencyRemoved (a directory sync): its apps' keys stop working
        raise Forbidden("this app's agency was removed from the registry",
                        code="agency_removed")
    return Principal(key, app=app, agency_code=agency.code)
