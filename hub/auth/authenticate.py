"""Who is calling: from a signed request to an app or an operator, or a refusal.

The order of checks is the order of what a client can fix: a malformed header, an
unknown or revoked key, an app that is not approved, then the signature itself (which
says what it expected), then replay. No refusal says anything about packages or agencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.auth.signing import (
    AuthError,
    HttpRequest,
    RsaVerifier,
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


async def authenticate(req: HttpRequest, *, registry: RegistryService, replay: ReplayGuard,
                       policy: SigningPolicy, now: datetime) -> Principal:
    header = req.header("authorization")
    if not header:
        raise AuthError("sign the request (Authorization: TRUC4-HMAC-SHA256 … or "
                        "AWS4-HMAC-SHA256 …); "
                        "see GET /v1/time for the region and service", code="missing_signature")
    auth = parse_authorization(header)
    if registry.registry.key(auth.access_key) is None:
        await registry.catch_up(seconds=2)  # a key this node has not seen may be brand new
    key = _usable_key(registry, auth.access_key, now)
    principal = _principal(registry, key)
    secret = None if key.public_key_pem else await registry.secret(key)
    verify_signature(req, auth, secret=secret, public_key_pem=key.public_key_pem,
                     rsa_verifier=policy.rsa_verifier, now=now, max_skew=policy.max_skew,
                     region=policy.region, service=policy.service,
                     provider=provider_of(auth.algorithm))
    if req.method.upper() not in IDEMPOTENT and not await replay.first_seen(
            auth.signature, now + policy.max_skew * 2):
        raise AuthError("this signed request was already received; sign every request anew",
                        code="replayed_request")
    return principal


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
    return Principal(key, app=app, agency_code=agency.code if agency else None)
