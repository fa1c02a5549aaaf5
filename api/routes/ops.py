"""Operator endpoints (`/v1/ops`): the registry. Operator keys only; admins change things,
auditors read, agency-admins read their own agency."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import responses as r
from api import views
from api.auth import CurrentAdmin, CurrentOperator, RuntimeDep
from api.door import DoorRoute
from api.problems import responses
from hub import bounds
from hub.errors import InvalidRequest, NotFound
from hub.registry.decisions import Context, overlap_of, parse_grants
from hub.registry.model import Operator, Role
from infra.rsa_keys import check_rsa_public_key

router = APIRouter(prefix="/v1/ops", tags=["operators"], route_class=DoorRoute)


def _ctx(runtime: RuntimeDep, operator: Operator) -> Context:
    return Context(operator.operator_id, runtime.backend.clock.now(), str(uuid.uuid4()))


class NewAgency(BaseModel):
    code: str = Field(max_length=40, description="QCVN 102:2016 code, e.g. 000.00.11.H53")
    name: str = Field(max_length=bounds.NAME)


@router.post("/agencies", status_code=201, response_model=r.AgencyView,
             responses=responses(409))
async def add_agency(body: NewAgency, operator: CurrentAdmin,
                     runtime: RuntimeDep) -> dict[str, Any]:
    return views.agency(await runtime.registry.add_agency(_ctx(runtime, operator), body.code,
                                                          body.name))


@router.get("/agencies", response_model=list[r.AgencyView])
async def list_agencies(operator: CurrentOperator, runtime: RuntimeDep) -> list[dict[str, Any]]:
    agencies = sorted(runtime.view.registry.agencies.values(), key=lambda a: a.code)
    return [views.agency(a) for a in agencies if operator.sees(a.code)]


class SigningPolicy(BaseModel):
    signing: str = Field(description="required (its edXML documents must carry a valid XML "
                         "signature) or optional", max_length=20)
    certificates: list[str] = Field(
        default_factory=list, max_length=50,
        description="With required: the SHA-256 (hex) of each certificate the agency signs "
        "with, its trust list; empty: any certificate whose signature is valid.")


@router.put("/agencies/{code}/signing", response_model=r.AgencyView,
            responses=responses(404))
async def set_signing(code: str, body: SigningPolicy, operator: CurrentAdmin,
                      runtime: RuntimeDep) -> dict[str, Any]:
    """Whether the agency's edXML documents must be signed (an audited registry action)."""
    return views.agency(await runtime.registry.set_signing(_ctx(runtime, operator), code,
                                                           body.signing, body.certificates))


class NewApp(BaseModel):
    agency_code: str = Field(max_length=40)
    name: str = Field(max_length=bounds.NAME)
    rsa_public_key_pem: str | None = Field(None, max_length=bounds.PUBLIC_KEY_PEM)


@router.post("/apps", status_code=201, response_model=r.AppView,
             responses=responses(404))
async def add_app(body: NewApp, operator: CurrentAdmin, runtime: RuntimeDep) -> dict[str, Any]:
    if body.rsa_public_key_pem:
        try:
            check_rsa_public_key(body.rsa_public_key_pem)
        except ValueError as exc:
            raise InvalidRequest(str(exc), code="invalid_public_key") from None
    app = await runtime.registry.add_app(_ctx(runtime, operator), body.agency_code, body.name,
                                         body.rsa_public_key_pem)
    return views.app(app, runtime.view)


@router.get("/apps", response_model=list[r.AppView])
async def list_apps(operator: CurrentOperator, runtime: RuntimeDep) -> list[dict[str, Any]]:
    shown = [views.app(a, runtime.view) for a in runtime.view.registry.apps.values()]
    return [a for a in shown if operator.sees(a["agency_code"])]


class Approval(BaseModel):
    operations: list[str] = Field(default_factory=list, max_length=bounds.MAX_GRANT_ITEMS,
                                  description="Default: all.")
    destinations: list[str] = Field(default_factory=list, max_length=bounds.MAX_GRANT_ITEMS,
                                    description="Default: any.")
    data_types: list[str] = Field(default_factory=list, max_length=bounds.MAX_GRANT_ITEMS,
                                  description="Default: any.")


@router.post("/apps/{app_id}/approve", response_model=r.ApprovedApp,
             responses=responses(409))
async def approve_app(app_id: str, body: Approval, operator: CurrentAdmin,
                      runtime: RuntimeDep) -> dict[str, Any]:
    """Approve the app and issue its key; the secret key is in this answer only."""
    grants = parse_grants(body.operations, body.destinations, body.data_types)
    app, key = await runtime.registry.approve_app(_ctx(runtime, operator), app_id, grants)
    return {**views.app(app, runtime.view), "key": views.new_key(key)}


class Revocation(BaseModel):
    reason: str = Field("revoked by operator", max_length=bounds.REASON)


@router.post("/apps/{app_id}/revoke", response_model=r.AppView,
             responses=responses(409))
async def revoke_app(app_id: str, body: Revocation, operator: CurrentAdmin,
                     runtime: RuntimeDep) -> dict[str, Any]:
    app = await runtime.registry.revoke_app(_ctx(runtime, operator), app_id, body.reason)
    return views.app(app, runtime.view)


class Rotation(BaseModel):
    overlap_hours: float | None = Field(None, ge=0, le=bounds.MAX_OVERLAP_HOURS,
                                        description="Default: the hub's setting.")


@router.post("/principals/{principal_id}/keys", response_model=r.RotatedKey,
             responses=responses(409))
async def rotate_key(principal_id: str, body: Rotation, operator: CurrentAdmin,
                     runtime: RuntimeDep) -> dict[str, Any]:
    """A new key for an app or operator; current keys keep working for the overlap."""
    hours = body.overlap_hours
    overlap = overlap_of(runtime.settings.key_overlap_hours if hours is None else hours)
    key = await runtime.registry.rotate_key(_ctx(runtime, operator), principal_id, overlap)
    return {"principal_id": principal_id, "key": views.new_key(key)}


class NewOperator(BaseModel):
    name: str = Field(max_length=bounds.NAME)
    role: str = Field(max_length=20, description="admin | auditor | agency-admin")
    agency_code: str | None = Field(None, max_length=40)


@router.post("/operators", status_code=201, response_model=r.NewOperatorView,
             responses=responses(404, 409))
async def add_operator(body: NewOperator, operator: CurrentAdmin,
                       runtime: RuntimeDep) -> dict[str, Any]:
    added, key = await runtime.registry.add_operator(_ctx(runtime, operator), body.name,
                                                     body.role, body.agency_code)
    return {**views.operator(added), "key": views.new_key(key)}


@router.get("/operators", response_model=list[r.OperatorView],
            responses=responses(404))
async def list_operators(operator: CurrentOperator, runtime: RuntimeDep) -> list[dict[str, Any]]:
    if operator.role is Role.AGENCY_ADMIN:
        raise NotFound("no such resource")
    return [views.operator(o) for o in runtime.view.registry.operators.values()]
