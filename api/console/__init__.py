"""The operators' console at ``/console``: server-rendered pages (Jinja2) over the same
use cases and projections as the operator API, Vietnamese first, every asset served by
the hub itself (an offline network works). Not in the OpenAPI document: it is for people.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

HERE = Path(__file__).parent


def mount(app: FastAPI) -> None:
    from api.app import add_routes
    from api.console import actions, pages, web

    add_routes(app, pages.assets)
    add_routes(app, pages.router)
    add_routes(app, actions.router)

    async def not_logged_in(request: Request, exc: Exception) -> Response:
        return web.to_login()

    async def refused(request: Request, exc: Exception) -> Response:
        return HTMLResponse("<!doctype html><title>403</title><p>403 — refused "
                            f"({web.templates.env.filters['e'](str(exc))})</p>",
                            status_code=403)

    app.add_exception_handler(web.NotLoggedIn, not_logged_in)
    app.add_exception_handler(web.Refused, refused)
