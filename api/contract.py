"""``/openapi.json`` as a contract a client can be generated from: FastAPI's document, then
what FastAPI cannot know by itself about this hub.

- Every refusal is ``application/problem+json`` (``api.problems``). A request that does not
  match the API is a 400 ``invalid_request`` problem, so FastAPI's 422 ``HTTPValidationError``
  (which the hub never sends) is taken out of the document.
- The problems every route of a kind can answer are declared here, from the route itself
  (``api.door.DoorRoute``): 401 and 403 where the door authenticates, 400 where there is a
  parameter or a body to get wrong, 404 where a path names something, 413 where a body is
  read, 503 where an engine is reached; 500 everywhere. A route declares the others
  (409, 410, 416, 422…) with ``problems.responses``.
- Operations are named after their route's function (``request_send``, ``seal``…).
- A security scheme, ``TRUC4``, describes the signature in ``Authorization`` and is
  required on every signed route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from api import problems
from api.responses import PackageRejected, Problem

SCHEME = "TRUC4"
SIGNATURE = (
    "A signature of the request, AWS Signature Version 4 style: `Authorization: "
    "TRUC4-HMAC-SHA256 Credential=<access key>/<yyyymmdd>/<region>/<service>/truc4_request, "
    "SignedHeaders=…, Signature=…`, with `X-Truc-Date` (and `X-Truc-Content-Sha256`, when "
    "sent) signed "
    "(the AWS4 names, `AWS4-HMAC-SHA256` with `X-Amz-Date` and `X-Amz-Content-Sha256`, and "
    "the RSA variants are accepted as well). Region, service and the allowed clock skew are "
    "at `GET /v1/time`. Not a static key: each request is signed with the secret key. See "
    "docs/integrating.md, section 2 (Signing), and the Python client (`api.client`).")
UNSIGNED_FAILURE_FREE = {"/v1/time", "/v1/auth/jwks"}
"""Unsigned routes that read neither an engine nor a request: they answer 500 at worst."""
DROPPED = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Serve the contract at ``/openapi.json``, built once on first request."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, summary=app.summary,
                       description=app.description, routes=app.routes)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in DROPPED:
        schemas.pop(name, None)
    for name, schema in _problem_schemas().items():
        schemas.setdefault(name, schema)
    components["securitySchemes"] = {SCHEME: {
        "type": "apiKey", "in": "header", "name": "Authorization", "description": SIGNATURE}}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods or ():
                operation = spec["paths"][route.path][method.lower()]
                _complete(operation, route)
    return spec


def _complete(operation: dict[str, Any], route: APIRoute) -> None:
    # what a generated client names its functions: ``seal``, not FastAPI's
    # ``seal_v1_packages__package_id__seal_post`` (route names are unique: a test checks)
    operation["operationId"] = route.name
    answers = operation["responses"]
    if _is_validation(answers.get("422")):
        del answers["422"]
    signed = getattr(route, "signed", False)
    if signed:
        operation["security"] = [{SCHEME: []}]
    for status in _statuses(route, signed):
        answers.setdefault(str(status), problems.responses(status)[status])


def _statuses(route: APIRoute, signed: bool) -> list[int]:
    has_body = route.body_field is not None or getattr(route, "chunk", False)
    has_params = bool(route.dependant.path_params or route.dependant.query_params
                      or route.dependant.header_params or has_body)
    statuses = [400] if has_params else []
    if signed:
        statuses += [401, 403]
    if route.dependant.path_params:
        statuses.append(404)
    if has_body:
        statuses.append(413)
    statuses.append(500)
    if signed or route.path not in UNSIGNED_FAILURE_FREE:
        statuses.append(503)
    return statuses


def _is_validation(response: dict[str, Any] | None) -> bool:
    """FastAPI's own 422, not one a route declared (``package_rejected``)."""
    if response is None:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _problem_schemas() -> dict[str, Any]:
    _, top = models_json_schema([(Problem, "serialization"), (PackageRejected, "serialization")],
                                ref_template="#/components/schemas/{model}")
    found: dict[str, Any] = top.get("$defs", {})
    return found
