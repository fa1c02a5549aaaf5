"""The app's routes are one flat list (no lazily included routers), each authenticating
once: what the cheaper hot HTTP path relies on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import BaseModel
from starlette.routing import Route

from api import auth, problems
from api.app import create_app
from infra.settings import Settings

AUTHENTICATING: set[Callable[..., Any]] = {
    auth.principal, auth.stream_app, auth.current_app, auth.current_operator,
    auth.current_admin}


def calls(dependant: Dependant) -> list[Callable[..., Any]]:
    out: list[Callable[..., Any]] = []
    for sub in dependant.dependencies:
        if sub.call is not None:
            out.append(sub.call)
        out += calls(sub)
    return out


def app() -> FastAPI:
    return create_app(Settings(data_dir="unused-never-opened"))


def test_routes_are_flat_and_keep_their_prefixes() -> None:
    routes = app().router.routes
    assert all(isinstance(r, APIRoute | APIWebSocketRoute | Route) for r in routes)
    paths = {r.path for r in routes if isinstance(r, APIRoute | APIWebSocketRoute)}
    for path in ("/v1/packages", "/v1/packages/{package_id}/chunks/{index}",
                 "/v1/packages/{package_id}/seal", "/v1/packages/{package_id}/content",
                 "/v1/packages/{package_id}/ack", "/v1/time", "/healthz"):
        assert path in paths
    assert any(p.startswith("/v1/ops/") for p in paths)


def test_every_route_authenticates_at_most_once() -> None:
    """Two authenticating dependencies on one route would run the replay guard twice, and
    the second would refuse the request as replayed."""
    checked = 0
    for route in app().router.routes:
        if isinstance(route, APIRoute):
            found = [c for c in calls(route.dependant) if c in AUTHENTICATING]
            assert len(found) <= 1, (route.path, found)
            checked += bool(found)
    assert checked > 20


def test_openapi_lists_tags_of_each_router() -> None:
    spec = app().openapi()
    tags = {t for item in spec["paths"].values() for op in item.values()
            for t in op.get("tags", [])}
    assert {"access", "operators", "packages", "deliveries", "notifications", "reports",
            "presence"} <= tags


async def test_routing_errors_are_problems_as_before() -> None:
    """Unknown path, wrong method, trailing slash: decided by routing alone (no runtime),
    the same answers as when the routers were included."""
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        wrong_method = await client.request("DELETE", "/v1/time")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["content-type"] == "application/problem+json"
        assert wrong_method.json()["code"] == "method_not_allowed"
        wrong = await client.get("/v1/packages/p/chunks/1")
        assert wrong.json()["code"] == "method_not_allowed"
        unknown = await client.get("/v1/nope")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
        slash = await client.get("/v1/time/")
        assert (slash.status_code, slash.headers["location"]) == (307,
                                                                  "http://testserver/v1/time")


class Titled(BaseModel):
    title: str


async def test_problem_titles_are_phrases_and_an_unreadable_body_has_its_code() -> None:
    """Titles name the problem type in words (not "InvalidRequest", "AuthError"); a body
    that is not UTF-8 is ``invalid_body``, not retriable (it was an undocumented
    ``http_error`` without ``retriable``)."""
    bare = FastAPI()  # the hub's routes read their body behind the door, after the signature
    problems.install(bare)

    @bare.post("/v1/packages")
    async def send(body: Titled) -> dict[str, str]:
        return {"title": body.title}

    transport = httpx.ASGITransport(app=bare, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        garbled = await client.post("/v1/packages", content=b'{"title": "\xff\xfe"}',
                                    headers={"content-type": "application/json"})
        body = garbled.json()
        assert (garbled.status_code, body["code"]) == (400, "invalid_body")
        assert body["retriable"] is False and body["title"] == "Invalid body"
        unknown = await client.get("/v1/nope")
        assert unknown.json()["title"] == "Not found"


def test_domain_problem_titles_are_the_code_in_words() -> None:
    from api.problems import title_of

    assert title_of("signature_mismatch") == "Signature mismatch"
    assert title_of("invalid_request") == "Invalid request"
