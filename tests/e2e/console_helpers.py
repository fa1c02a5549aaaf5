"""Console accounts and sessions for the end-to-end and browser tests."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.exchange import client
from tests.e2e.hubs import TRUC, RunningHub

PASSWORD = "mat-khau-rat-dai-1"


def console_user(hub: RunningHub, login: str, role: str, agency: str | None = None,
                 password: str = PASSWORD, *, name: str | None = None) -> dict[str, Any]:
    """``truc admin console-user add`` locally, the password on standard input."""
    args = [TRUC, "admin", "console-user", "add", login, "--role", role, "--password-stdin",
            "--json"]
    if agency:
        args += ["--agency", agency]
    if name:
        args += ["--name", name]
    done = subprocess.run(args, env=hub.env, cwd=hub.cwd, input=password + "\n", text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has a form with a CSRF token"
    return found.group(1)


def logged_in(hub: RunningHub, login: str, password: str = PASSWORD) -> httpx.Client:
    browser = httpx.Client(base_url=hub.url, timeout=60)
    token = csrf_of(browser.get("/console/login").text)
    answer = browser.post("/console/login", data={"csrf": token, "login": login,
                                                  "password": password})
    assert answer.status_code == 303, answer.text
    return browser


def scrape(hub: RunningHub) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    text = httpx.get(f"{hub.url}/metrics", timeout=60).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return sum(v for (n, ls), v in found.items()
               if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


def polled(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the hub did not get there in time"
        time.sleep(0.3)


async def send_one(hub: RunningHub, source: dict[str, Any], destination: dict[str, Any],
                   folder: Path, *, status: str | None = None) -> str:
    """A package "Báo cáo tháng 11" from ``source`` to ``destination`` (which reports
    ``status`` if given); its id."""
    doc = folder / "bao-cao.txt"
    doc.write_bytes("Báo cáo tháng".encode() * 40)
    async with client(hub, source) as src, client(hub, destination) as dest:
        sealed = await src.send([destination["code"]], "Báo cáo tháng 11", doc)
        package_id: str = sealed["package_id"]
        if status is not None:
            await dest.report_status(package_id, status, "Đã vào sổ")
    return package_id
