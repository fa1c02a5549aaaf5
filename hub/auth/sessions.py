"""Session keys (Điều 11): a source asks to call a destination; the hub vouches for it.

The hub checks that the source app is approved and may reach that destination with those
operations, then issues a short-lived token naming source, destination and operations.
The destination asks the hub (introspection) whether a token presented to it is good:
the answer is re-checked against the registry *now*, so revoking the source's app or key
makes its tokens fail at once, everywhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.errors import InvalidRequest, NotFound, TrucError
from hub.registry.codes import AgencyCode
from hub.registry.model import App, AppState, Key, Operation, Registry


class NotGranted(TrucError):
    code = "not_granted"
    status = 403


@dataclass(frozen=True)
class Caller:
    """An authenticated app: who signed the request, with which key."""

    app: App
    key: Key
    agency_code: str


APP_REVOKED = "app_revoked"
KEY_REVOKED = "key_revoked"
KEY_EXPIRED = "key_expired"
AGENCY_REMOVED = "agency_removed"


def lapsed(reg: Registry, app_id: str, key_id: str, now: datetime) -> str | None:
    """Why what an app was authenticated with no longer holds — its app revoked (or no
    longer approved), its agency gone, its key revoked or past ``valid_until`` — or None.

    The one rule for everything that outlives the request that authenticated it: session
    tokens (``introspect``) and the live streams a node holds open."""
    app = reg.apps.get(app_id)
    if app is None or app.state is not AppState.APPROVED:
        return APP_REVOKED
    if app.agency_id not in reg.agencies:
        return AGENCY_REMOVED
    key = reg.keys.get(key_id)
    if key is None or key.revoked:
        return KEY_REVOKED
    if not key.valid_at(now):
        return KEY_EXPIRED
    return None


def require(caller: Caller, operation: Operation) -> None:
    grants = caller.app.grants
    if grants is None or not grants.allows(operation):
        raise NotGranted(f"this app is not granted '{operation.value}'")


def session_claims(reg: Registry, caller: Caller, destination: str, operations: list[str], *,
                   now: datetime, ttl: timedelta, issuer: str) -> dict[str, Any]:
    """The claims of a new session token, or a refusal."""
    named = str(AgencyCode.parse(destination))
    target = reg.agency(named)  # a closed code names its successor
    if target is None:
        raise NotFound(f"no agency with code {named}", code="unknown_agency")
    code = target.code
    grants = caller.app.grants
    if grants is None or not any(grants.allows_destination(c) for c in target.codes):
        raise NotGranted(f"this app may not access {named}")
    wanted = operations or sorted(grants.operations)
    refused = [op for op in wanted if op not in grants.operations]
    if refused:
        raise NotGranted(f"operations not granted to this app: {refused}")
    if not wanted:
        raise InvalidRequest("a session needs at least one operation", code="invalid_request")
    return {
        "iss": issuer, "sub": caller.app.app_id, "aud": code, "jti": str(uuid.uuid4()),
        "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp()),
        "src": caller.agency_code, "dst": code, "ops": sorted(wanted),
        "kid_src": caller.key.key_id,
    }


def introspect(reg: Registry, claims: dict[str, Any] | None, caller: Caller,
               now: datetime) -> dict[str, Any]:
    """RFC 7662-style answer: ``active`` with the scope, or just ``active: false``.

    Only the destination named in the token learns anything about it."""
    if claims is None or claims.get("dst") != caller.agency_code:
        return {"active": False}
    gone = lapsed(reg, str(claims.get("sub")), str(claims.get("kid_src")), now)
    if gone is not None or int(claims.get("exp", 0)) <= now.timestamp():
        return {"active": False}
    return {"active": True, "sub": claims["sub"], "src": claims["src"], "dst": claims["dst"],
            "scope": " ".join(claims["ops"]), "exp": claims["exp"], "iat": claims["iat"],
            "jti": claims["jti"], "iss": claims["iss"]}
