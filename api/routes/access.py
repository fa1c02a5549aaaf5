"""Time, identity and session keys (Điều 11) for agency apps."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import responses as r
from api import views
from api.auth import CurrentApp, CurrentAppOnce, RuntimeDep
from api.door import DoorRoute
from hub import bounds
from hub.auth.sessions import introspect, session_claims
from hub.auth.signing import TRUC4, Scheme
from hub.registry.decisions import Context
from hub.registry.webhook_targets import parse_policy
from infra.webhook_targets import checked_target

router = APIRouter(prefix="/v1", tags=["access"], route_class=DoorRoute)


@router.get("/time", response_model=r.HubTime)
async def hub_time(runtime: RuntimeDep) -> dict[str, Any]:
    """The hub's clock and signing parameters: sign with this time, region and service."""
    now = runtime.backend.clock.now()
    settings = runtime.settings
    return {
        "now": now.isoformat(), "epoch_ms": int(now.timestamp() * 1000),
        "region": settings.region, "service": settings.service,
        "max_skew_seconds": settings.max_skew_seconds,
        "signing": {"provider": TRUC4.name, "date_header": "X-Truc-Date",
                    "content_header": "X-Truc-Content-Sha256",
                    "algorithms": [s.algorithm(TRUC4) for s in Scheme]},
    }


@router.get("/whoami", response_model=r.WhoAmI)
async def whoami(caller: CurrentApp, runtime: RuntimeDep) -> dict[str, Any]:
    """The calling app, its agency and its grants: a first call to check an integration."""
    agency = runtime.view.registry.agencies[caller.app.agency_id]
    return {"app": views.app(caller.app, runtime.view), "agency": views.agency(agency),
            "access_key": caller.key.access_key}


class SessionRequest(BaseModel):
    destination: str = Field(max_length=40, description="Agency code of the destination "
                                                        "service.")
    operations: list[str] = Field(default_factory=list, max_length=50,
                                  description="Operations wanted; default: all granted.")


@router.post("/auth/sessions", status_code=201, response_model=r.Session)
async def open_session(body: SessionRequest, caller: CurrentApp,
                       runtime: RuntimeDep) -> dict[str, Any]:
    """A short-lived token the source presents to the destination service."""
    now = runtime.backend.clock.now()
    claims = session_claims(
        runtime.view.registry, caller, body.destination, body.operations, now=now,
        ttl=timedelta(seconds=runtime.settings.session_ttl_seconds),
        issuer=f"truc:{runtime.settings.region}")
    return {"token": runtime.tokens.sign(claims), "token_type": "Bearer",
            "expires_at": claims["exp"], "expires_in": claims["exp"] - claims["iat"],
            "source": claims["src"], "destination": claims["dst"],
            "operations": claims["ops"], "session_id": claims["jti"]}


class IntrospectRequest(BaseModel):
    token: str = Field(max_length=16_384)


@router.post("/auth/introspect", response_model=r.Introspection,
             response_model_exclude_unset=True)  # inactive: {"active": false} only
async def introspect_token(body: IntrospectRequest, caller: CurrentApp,
                           runtime: RuntimeDep) -> dict[str, Any]:
    """Is a token presented to the calling destination valid right now?"""
    claims = runtime.tokens.verify(body.token)
    return introspect(runtime.view.registry, claims, caller, runtime.backend.clock.now())


@router.get("/auth/jwks", response_model=r.Jwks)
async def jwks(runtime: RuntimeDep) -> dict[str, Any]:
    """The hub's public token keys, for destinations that verify tokens offline."""
    return runtime.tokens.jwks()


class WebhookRequest(BaseModel):
    url: str = Field(max_length=bounds.URL,
                     description="http(s) URL notices are POSTed to; empty to remove.")


@router.put("/webhook", response_model=r.Webhook)
async def set_webhook(body: WebhookRequest, caller: CurrentAppOnce,
                      runtime: RuntimeDep) -> dict[str, Any]:
    """Also receive notices as signed POSTs. The signing secret is in this answer only.
    Each call issues a new secret, so a signed request is accepted once (a replay is
    ``401 replayed_request``): a captured request cannot be replayed for a fresh secret."""
    ctx = Context(caller.app.app_id, runtime.backend.clock.now(), str(uuid.uuid4()))
    policy = parse_policy(runtime.settings.webhook_allow_hosts)
    if body.url:  # the name must resolve, now, to addresses the policy allows
        await checked_target(policy, body.url)
    secret = await runtime.registry.configure_webhook(ctx, caller.app.app_id, body.url, policy)
    return {"url": body.url or None, "secret": secret,
            "signature": "X-Truc-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>"}
