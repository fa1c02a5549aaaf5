"""The API's documentation pages (Swagger UI at /docs, ReDoc at /redoc) with every asset
served by the hub itself: a government network is often cut off from the internet, and
FastAPI's own pages load their scripts and styles from a CDN.

The files come from the ``fastapi-offline`` package (a PyPI dependency that ships the
Swagger UI and ReDoc distributions); nothing is fetched at run time.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from hub.errors import NotFound

ASSETS = Path(fastapi_offline.__file__).parent / "static"
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
         "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
PREFIX = "/docs/assets"
OPENAPI = "/openapi.json"
TITLE = "Truc"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI, title=f"{TITLE} — API",
        swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{PREFIX}/favicon.png")


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url=OPENAPI, title=f"{TITLE} — API",
                          redoc_js_url=f"{PREFIX}/redoc.standalone.js",
                          redoc_favicon_url=f"{PREFIX}/favicon.png", with_google_fonts=False)


@router.get(PREFIX + "/{name}")
async def asset(name: str) -> FileResponse:
    """Only the files listed: the name never reaches the file system otherwise."""
    media = FILES.get(name)
    if media is None:
        raise NotFound(f"no documentation asset {name}", code="not_found")
    return FileResponse(ASSETS / name, media_type=media,
                        headers={"cache-control": "public, max-age=86400"})
