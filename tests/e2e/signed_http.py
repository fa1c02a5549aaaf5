"""An ``httpx.Auth`` that signs each request with the hub's own signer
(``hub.auth.signing.sign_request``, TRUC4-HMAC-SHA256): what any httpx-based client — the
one openapi-python-client generates included — plugs in to talk to the hub."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import httpx

from hub.auth.signing import sign_request

SIGNED = ("content-type", "idempotency-key", "x-chunk-sha256", "range")
"""The request's own headers that go into the signature (the hub requires the first two
to be signed when sent; the others are signed because they change the answer)."""


class Truc4Auth(httpx.Auth):
    requires_request_body = True  # the signature covers the body's SHA-256

    def __init__(self, key: dict[str, Any], region: str = "vn", service: str = "truc") -> None:
        self.key, self.region, self.service = key, region, service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                             None]:
        headers = {name: request.headers[name] for name in SIGNED if name in request.headers}
        headers["x-truc-nonce"] = os.urandom(12).hex()  # a retried POST is not a replay
        headers.update(sign_request(
            request.method, str(request.url), headers,
            hashlib.sha256(request.content).hexdigest(), access_key=self.key["access_key"],
            secret=self.key["secret_key"], algorithm="TRUC4-HMAC-SHA256",
            now=datetime.now(UTC), region=self.region, service=self.service))
        headers.pop("Host", None)  # httpx sends the same one
        request.headers.update(headers)
        yield request
