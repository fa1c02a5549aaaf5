"""Alerts to people (`/v1/ops`): an agency's contacts and policy, and the alerts raised
with each contact's state. Admins set policies; operators read what they may see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import responses as r
from api.auth import CurrentAdmin, CurrentOperator, RuntimeDep
from api.door import DoorRoute
from api.problems import responses
from api.runtime import Runtime
from hub.alerts.configure import PolicyRequest
from hub.alerts.policy import MAX_AFTER_SECONDS, MAX_CONTACTS, AlertPolicy
from hub.alerts.view import ALERTS, read_alerts, shown
from hub.errors import NotFound
from hub.registry.decisions import Context
from hub.registry.webhook_targets import parse_policy

Sees = Callable[[str | None], bool]
"""Whether the operator may see an agency (by code): ``Operator.sees``."""
router = APIRouter(prefix="/v1/ops", tags=["operators"], route_class=DoorRoute)


class PolicyBody(BaseModel):
    emails: list[str] = Field(default_factory=list, max_length=MAX_CONTACTS)
    webhooks: list[str] = Field(default_factory=list, max_length=MAX_CONTACTS)
    unfetched_after_seconds: int | None = Field(None, ge=0, le=MAX_AFTER_SECONDS)
    expired_after_seconds: int | None = Field(None, ge=0, le=MAX_AFTER_SECONDS)
    offline_after_seconds: int | None = Field(None, ge=0, le=MAX_AFTER_SECONDS)


def policy_view(runtime: Runtime, agency_id: str, policy: AlertPolicy | None) -> dict[str, Any]:
    agency = runtime.view.registry.agencies[agency_id]
    return {"agency_id": agency_id, "agency_code": agency.code,
            "emails": list(policy.emails) if policy else [],
            "webhooks": list(policy.webhooks) if policy else [],
            "unfetched_after_seconds": policy.unfetched_after if policy else None,
            "expired_after_seconds": policy.expired_after if policy else None,
            "offline_after_seconds": policy.offline_after if policy else None,
            "set_at": policy.set_at.isoformat() if policy else None,
            "active": bool(policy and policy.active)}


def agency_id_of(runtime: Runtime, sees: Sees, code: str) -> str:
    agency = runtime.view.registry.agency(code)
    if agency is None or not sees(agency.code):
        raise NotFound(f"no agency with code {code}", code="unknown_agency")
    return agency.agency_id


@router.put("/agencies/{code}/alerts", response_model=r.AlertPolicyView,
            responses=responses(404))
async def set_alerts(code: str, body: PolicyBody, operator: CurrentAdmin,
                     runtime: RuntimeDep) -> dict[str, Any]:
    """Replaces the agency's alert contacts and policy (an empty body turns them off)."""
    ctx = Context(operator.operator_id, runtime.backend.clock.now(), str(uuid.uuid4()))
    policy = await runtime.registry.set_alerts(
        ctx, code, PolicyRequest(**body.model_dump()),
        parse_policy(runtime.settings.webhook_allow_hosts))
    return policy_view(runtime, policy.agency_id, policy)


@router.get("/agencies/{code}/alerts", response_model=r.AlertPolicyView,
            responses=responses(404))
async def get_alerts(code: str, operator: CurrentOperator,
                     runtime: RuntimeDep) -> dict[str, Any]:
    agency_id = agency_id_of(runtime, operator.sees, code)
    return policy_view(runtime, agency_id, runtime.view.registry.alerts.get(agency_id))


async def alerts_seen(runtime: Runtime, sees: Sees,
                      code: str | None = None) -> list[dict[str, Any]]:
    """The alerts of every agency with a policy the operator sees, newest first."""
    registry = runtime.view.registry
    agencies = [agency_id_of(runtime, sees, code)] if code else [
        a for a in registry.alerts if a in registry.agencies
        and sees(registry.agencies[a].code)]
    found = []
    for agency_id in agencies:
        rows = await runtime.backend.projections.scan(ALERTS, agency_id)
        for alert, attempts in read_alerts(rows):
            owner = registry.agencies.get(alert.agency_id)
            found.append({**shown(alert, attempts),
                          "agency_code": owner.code if owner else None})
    return sorted(found, key=lambda a: (a["raised_at"], a["alert_id"]), reverse=True)


@router.get("/alerts", response_model=list[r.AlertView], responses=responses(404))
async def list_alerts(operator: CurrentOperator, runtime: RuntimeDep,
                      agency: str | None = None) -> list[dict[str, Any]]:
    """Alerts raised, newest first, with each contact's state (``?agency=<code>``: one)."""
    return await alerts_seen(runtime, operator.sees, agency)
