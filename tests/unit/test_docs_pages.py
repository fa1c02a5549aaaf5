"""/docs and /redoc load nothing from the internet: every script, style and icon they
reference is a local URL the hub answers itself (a government network is often offline)."""

from __future__ import annotations

import re

import httpx
import pytest

from api.app import create_app
from infra.settings import Settings


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_documentation_pages_use_only_local_assets(page: str) -> None:
    app = create_app(Settings(data_dir="unused-never-opened"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hub.local") as client:
        html = (await client.get(page)).text
        urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html)
        urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
        assert len(urls) >= 3, html
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url}"
            answer = await client.get(url)
            assert answer.status_code == 200, url
            assert answer.content, url
        assert "cdn" not in html.lower() and "googleapis" not in html
        assert (await client.get("/docs/assets/../../etc/passwd")).status_code == 404
