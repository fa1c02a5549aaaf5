"""The door's pieces: which routes it authenticates and with which limit, the JSON depth
check, and the read timeouts handed to uvicorn (the e2e side: tests/e2e/test_door.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.door import DoorRoute, check_json_depth
from api.protocol import ReadLimits, TimedHttpToolsProtocol
from api.routes.docs import PREFIX as DOCS_ASSETS
from hub.errors import InvalidRequest
from infra.settings import Settings

UNSIGNED_ROUTES = {"/v1/time", "/v1/auth/jwks", "/healthz", "/{operation}"}
"""``/{operation}`` is the national axis's protocol: signed with its own XroadVnpt header
signature, checked by the route (api/routes/axis.py), not with SigV4."""
PAGES = {"/docs", "/redoc", f"{DOCS_ASSETS}/{{name}}", "/console/static/{name}"}
"""The API's documentation pages: static GETs with no body and no key, outside the door."""


def routes() -> list[APIRoute]:
    app = create_app(Settings(data_dir=Path("unused-never-opened")))
    return [r for r in app.router.routes if isinstance(r, APIRoute)]


def test_every_api_route_passes_the_door_and_only_public_ones_unsigned() -> None:
    doors = [r for r in routes() if r.path != "/healthz" and r.path not in PAGES]
    assert doors and all(isinstance(r, DoorRoute) for r in doors)
    unsigned = {r.path for r in doors if not r.signed}  # type: ignore[attr-defined]
    console = {p for p in unsigned if p.startswith("/console")}  # a session, not a key
    assert console and unsigned - console == UNSIGNED_ROUTES - {"/healthz"} | {"/metrics"}


def test_only_the_chunk_upload_takes_chunks_and_unsigned_payloads() -> None:
    chunk = [r.path for r in routes() if getattr(r, "chunk", False)]
    assert chunk == ["/v1/packages/{package_id}/chunks/{index}"]


def test_openapi_keeps_the_request_bodies() -> None:
    """The door reads the body itself, but the routes still declare their models, so the
    OpenAPI document (and the fuzz suite built on it) is unchanged."""
    spec = create_app(Settings(data_dir=Path("unused"))).openapi()
    assert "requestBody" in spec["paths"]["/v1/packages"]["post"]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("body", [
    b"", b"{}", nested(64), json.dumps({"a": [[1, 2], {"b": [3]}]}).encode(),
    json.dumps({"note": "[" * 500 + "{" * 500}).encode(),      # brackets inside a string
    json.dumps({"note": '\\"[' * 200}).encode(),                 # escaped quotes in a string
    json.dumps([[i] for i in range(1000)]).encode(),             # many brackets, shallow
])
def test_json_within_the_depth_passes(body: bytes) -> None:
    check_json_depth(body, 64)


@pytest.mark.parametrize("body", [
    nested(65), nested(100_000), b"[" * 100_000, b'{"a":' * 70 + b"1" + b"}" * 70,
    b'["x", ' + nested(65) + b"]",
])
def test_json_deeper_than_the_limit_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_json_depth(body, 64)
    assert refused.value.code == "json_too_deep"


def test_serve_gives_uvicorn_the_timed_protocol(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: seen.update(kw))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRUC_HEADER_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("TRUC_BODY_MIN_RATE", "0")
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    protocol = seen["http"]
    assert issubclass(protocol, TimedHttpToolsProtocol)
    assert protocol.limits == ReadLimits(header_seconds=3, body_seconds=15, body_min_rate=0)


def test_read_limit_defaults_are_sane() -> None:
    limits = ReadLimits.of(Settings(data_dir=Path("unused")))
    assert limits == ReadLimits(header_seconds=10, body_seconds=15, body_min_rate=1024)
