"""What every console page shares: the session, the language, the templates, CSRF."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from api.console import HERE
from api.console.accounts import Session, session_of
from api.console.i18n import LANGS, words
from api.runtime import Runtime
from hub.auth.lockout import Lockout
from hub.registry.model import Agency, Role

COOKIE = "truc_console"
MAX_FORM = 64 * 1024
templates = Jinja2Templates(directory=HERE / "templates")


class NotLoggedIn(Exception):
    """Answered by a redirect to the login page."""


class Refused(Exception):
    """A console request the session may not make (CSRF, role): 403."""


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def lockout_of(request: Request) -> Lockout:
    state = request.app.state
    if not hasattr(state, "console_lockout"):
        settings = runtime_of(request).settings
        state.console_lockout = Lockout(settings.console_lockout_failures,
                                        settings.console_lockout_minutes)
    found: Lockout = state.console_lockout
    return found


def lang_of(request: Request) -> str:
    lang = request.cookies.get("lang", "vi")
    return lang if lang in LANGS else "vi"


def session(request: Request) -> Session:
    found = session_of(runtime_of(request), request.cookies.get(COOKIE))
    if found is None:
        raise NotLoggedIn
    request.scope["truc.console_login"] = found.login
    return found


def visible(runtime: Runtime, current: Session) -> list[Agency]:
    """The agencies this session may see: all, or an agency-admin's own."""
    agencies = sorted(runtime.view.registry.agencies.values(), key=lambda a: a.code)
    return [a for a in agencies if current.operator.sees(a.code)]


def page(request: Request, name: str, current: Session | None, *, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    return templates.TemplateResponse(request, name, status_code=status_code, context={
        "t": words(lang), "lang": lang, "me": current, "path": request.url.path,
        "is_admin": current is not None and current.operator.role is Role.ADMIN,
        **context})


async def form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Refused("form too large")
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


async def checked_form(request: Request, current: Session) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session's; admins only."""
    fields = await form(request)
    if not hmac.compare_digest(fields.get("csrf", ""), current.csrf):
        raise Refused("csrf")
    if current.operator.role is not Role.ADMIN:
        raise Refused("role")
    return fields


def to_login() -> Response:
    return RedirectResponse("/console/login", status_code=303)
