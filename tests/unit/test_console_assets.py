"""The console loads nothing from the internet (an offline government network): every
file its pages reference is a local URL the hub answers; nothing else is served."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from api.app import create_app
from infra.settings import Settings


async def test_the_console_uses_only_local_assets_and_serves_no_other_file(
        tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))  # the pages pass the door
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub.local") as client:
        html = (await client.get("/console/login")).text
        assert "Đăng nhập" in html
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assets = [u for u in urls if u.startswith("/console/static/")]
        assert len(assets) == 2, urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
        for url in assets:
            answer = await client.get(url)
            assert answer.status_code == 200 and answer.content, url
        for sneaky in ("/console/static/..%2f__init__.py", "/console/static/base.html",
                       "/console/static/%2e%2e%2fpages.py"):
            assert (await client.get(sneaky)).status_code == 404, sneaky
