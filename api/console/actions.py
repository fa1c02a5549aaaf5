"""The console's actions: log in and out, the language, and the registry (forms 01–07).

Every registry action calls the same ``RegistryService`` use case as ``/v1/ops`` and
``truc admin``, with the logged-in operator as the actor: the same events, the same rules.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import views
from api.console.accounts import LockedOut, Session, authenticate, create, listed, new_session
from api.console.web import (
    COOKIE,
    Refused,
    checked_form,
    form,
    lang_of,
    lockout_of,
    page,
    runtime_of,
    session,
    visible,
)
from api.door import DoorRoute
from hub.alerts.configure import PolicyRequest
from hub.errors import InvalidRequest
from hub.registry.decisions import Context, overlap_of, parse_grants
from hub.registry.model import Role
from hub.registry.webhook_targets import parse_policy

router = APIRouter(include_in_schema=False, route_class=DoorRoute)
LOGIN_CSRF = "truc_console_login"


@router.get("/console/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    answer = page(request, "login.html", None, csrf=token, error=None)
    answer.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/console")
    return answer


@router.post("/console/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    fields = await form(request)
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not secrets.compare_digest(fields.get("csrf", ""), expected):
        return page(request, "login.html", None, csrf=expected, error="bad_login",
                    status_code=403)
    runtime = runtime_of(request)
    login_name = fields.get("login", "").strip().lower()
    try:
        operator = await authenticate(runtime, lockout_of(request), login_name,
                                      fields.get("password", ""))
    except LockedOut:
        return page(request, "login.html", None, csrf=expected, error="locked", status_code=429)
    if operator is None:
        return page(request, "login.html", None, csrf=expected, error="bad_login",
                    status_code=401)
    answer = RedirectResponse("/console", status_code=303)
    answer.set_cookie(COOKIE, new_session(runtime, operator, login_name), httponly=True,
                      samesite="strict", path="/console",
                      secure=request.url.scheme == "https")
    return answer


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    await checked_form_any(request)
    answer = RedirectResponse("/console/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/console")
    return answer


async def checked_form_any(request: Request) -> dict[str, str]:
    """A form from any logged-in role (log out), CSRF checked."""
    current = session(request)
    fields = await form(request)
    if not secrets.compare_digest(fields.get("csrf", ""), current.csrf):
        raise Refused("csrf")
    return fields


@router.get("/console/lang/{lang}")
async def switch_language(request: Request, lang: str) -> Response:
    back = request.headers.get("referer", "/console")
    answer = RedirectResponse(back if back.startswith(str(request.base_url)) else "/console",
                              status_code=303)
    answer.set_cookie("lang", "en" if lang == "en" else "vi", samesite="strict",
                      path="/console")
    return answer


@router.get("/console/registry", response_class=HTMLResponse)
async def registry(request: Request) -> Response:
    current = session(request)
    return await _registry_page(request, current)


async def _registry_page(request: Request, current: Session, *, status_code: int = 200,
                         **shown: Any) -> Response:
    runtime = runtime_of(request)
    agencies = visible(runtime, current)
    apps = [views.app(a, runtime.view) for a in runtime.view.registry.apps.values()]
    codes = {a.code for a in agencies}
    accounts = await listed(runtime) if current.operator.role is Role.ADMIN else []
    return page(request, "registry.html", current, agencies=agencies, accounts=accounts,
                domain=runtime.settings.domain,
                apps=sorted((a for a in apps if a["agency_code"] in codes),
                            key=lambda a: (a["agency_code"], a["name"])),
                status_code=status_code, **shown)


def _ctx(request: Request, current: Session) -> Context:
    runtime = runtime_of(request)
    return Context(current.operator.operator_id, runtime.backend.clock.now(),
                   request.scope.get("truc.request_id") or str(uuid.uuid4()))


@router.post("/console/registry/agencies", response_class=HTMLResponse)
async def add_agency(request: Request) -> Response:
    current = session(request)
    fields = await checked_form(request, current)
    found = await runtime_of(request).registry.add_agency(
        _ctx(request, current), fields.get("code", "").strip(), fields.get("name", "").strip())
    return await _registry_page(request, current, done=f"{found.code} — {found.name}")


@router.post("/console/registry/apps", response_class=HTMLResponse)
async def add_app(request: Request) -> Response:
    current = session(request)
    fields = await checked_form(request, current)
    found = await runtime_of(request).registry.add_app(
        _ctx(request, current), fields.get("agency_code", ""), fields.get("name", "").strip())
    return await _registry_page(request, current, done=f"{found.name} ({found.app_id})")


@router.post("/console/registry/apps/{app_id}/approve", response_class=HTMLResponse)
async def approve_app(request: Request, app_id: str) -> Response:
    current = session(request)
    await checked_form(request, current)
    app, key = await runtime_of(request).registry.approve_app(
        _ctx(request, current), app_id, parse_grants([], [], []))
    return await _registry_page(request, current, done=app.name, secret=views.new_key(key))


@router.post("/console/registry/apps/{app_id}/revoke", response_class=HTMLResponse)
async def revoke_app(request: Request, app_id: str) -> Response:
    current = session(request)
    fields = await checked_form(request, current)
    app = await runtime_of(request).registry.revoke_app(
        _ctx(request, current), app_id, fields.get("reason") or "revoked by operator")
    return await _registry_page(request, current, done=app.name)


@router.post("/console/registry/principals/{principal_id}/keys", response_class=HTMLResponse)
async def rotate_key(request: Request, principal_id: str) -> Response:
    current = session(request)
    await checked_form(request, current)
    runtime = runtime_of(request)
    key = await runtime.registry.rotate_key(
        _ctx(request, current), principal_id, overlap_of(runtime.settings.key_overlap_hours))
    return await _registry_page(request, current, done=principal_id, secret=views.new_key(key))


@router.post("/console/registry/accounts", response_class=HTMLResponse)
async def add_account(request: Request) -> Response:
    """A console account, by the same ``create`` as ``truc admin console-user add``; a
    bad field is shown on the page, and nothing is recorded."""
    current = session(request)
    fields = await checked_form(request, current)
    role = fields.get("role", "")
    agency_code = fields.get("agency_code") if role == Role.AGENCY_ADMIN.value else None
    try:
        if fields.get("password", "") != fields.get("password2", ""):
            raise InvalidRequest("the two passwords differ", code="password_mismatch")
        operator = await create(runtime_of(request), _ctx(request, current),
                                fields.get("login", ""), fields.get("password", ""),
                                role=role, agency_code=agency_code or None)
    except InvalidRequest as exc:
        return await _registry_page(request, current, status_code=exc.status,
                                    error=f"{exc.code}: {exc.detail}")
    return await _registry_page(request, current, done=f"{fields['login'].strip().lower()}"
                                f" ({operator.role.value})")


@router.post("/console/alerts/policy")
async def set_alert_policy(request: Request) -> Response:
    """An agency's alert contacts and thresholds (hours), as ``truc admin alerts set``."""
    current = session(request)
    fields = await checked_form(request, current)
    runtime = runtime_of(request)
    request_ = PolicyRequest(
        emails=fields.get("emails", "").replace(",", " ").split(),
        webhooks=fields.get("webhooks", "").replace(",", " ").split(),
        unfetched_after_seconds=_hours(fields, "unfetched_hours"),
        expired_after_seconds=_hours(fields, "expired_hours"),
        offline_after_seconds=_hours(fields, "offline_hours"))
    await runtime.registry.set_alerts(_ctx(request, current), fields.get("agency_code", ""),
                                      request_,
                                      parse_policy(runtime.settings.webhook_allow_hosts))
    return RedirectResponse("/console/alerts", status_code=303)


def _hours(fields: dict[str, str], name: str) -> int | None:
    """Hours as typed (decimals allowed) to whole seconds; empty: that alert is off."""
    text = fields.get(name, "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return round(float(text) * 3600)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{name} is a number of hours", code="invalid_alert_policy",
                             field=name) from None


__all__ = ["lang_of", "router"]
