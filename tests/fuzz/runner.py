"""Schemathesis cases against a running hub, each signed after it is generated.

Schemathesis draws a case from the hub's own OpenAPI (``/openapi.json``); the case is
turned into the exact request that goes on the wire (method, percent-encoded URL, headers,
body bytes), and only then signed with TRUC4-HMAC-SHA256 for the identity of the run, so
the signature covers what the hub receives and a rejection is the hub's judgement of the
content, not of a broken signature. Path parameters are drawn half the time from the
real ids of a :class:`World`, so package routes meet real packages.

A finding is a response ≥ 500, an error that is not ``application/problem+json`` with a
``code``, an answer that is not what the OpenAPI says (a status it does not declare for the
operation, another content type, a body its schema refuses: ``CONFORMANCE``), or a request
the hub never answered (a dropped connection, a timeout).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.auth.signing import sign_request
from tests.fuzz.world import World

TIMEOUT = 15.0
STREAMING = {"text/event-stream"}
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
"""The response checks of schemathesis: the answer is one the operation declares."""


@dataclass
class Finding:
    identity: str
    mode: str
    route: str
    status: int | None
    reason: str
    reproducer: str


@dataclass
class Summary:
    cases: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_identity: Counter[str] = field(default_factory=Counter)
    unsendable: int = 0  # cases the HTTP client itself refused to put on the wire
    generation_errors: list[str] = field(default_factory=list)
    no_negative: set[str] = field(default_factory=set)  # nothing there can be made invalid
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_identity": dict(self.by_identity),
            "status_5xx": sum(v for k, v in self.by_status.items() if k >= 500),
            "unsendable": self.unsendable,
            "generation_errors": self.generation_errors,
            "operations_without_negative_cases": len(self.no_negative),
            "findings": len(self.findings),
            "distinct_findings": _distinct(self.findings),
            "duration_seconds": round(self.seconds, 1),
        }


def _distinct(findings: list[Finding]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, int | None, str], dict[str, Any]] = {}
    for f in findings:
        key = (f.route, f.status, f.reason[:80])
        if key not in seen:
            seen[key] = {"route": f.route, "status": f.status, "identity": f.identity,
                         "reason": f.reason, "reproducer": f.reproducer, "count": 0}
        seen[key]["count"] += 1
    return list(seen.values())


def load_schema(url: str) -> Any:
    spec = requests.get(f"{url}/openapi.json", timeout=30).json()
    return schemathesis.openapi.from_dict(spec)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def run(world: World, budget: int, *, seed: int = 0,
        identities: list[str] | None = None, max_passes: int = 60) -> Summary:
    """At least ``budget`` cases (unless ``max_passes`` run out first), spread evenly over
    operations × identities × (positive, negative), in passes with a new seed each: an
    operation with few possible requests (``GET /v1/time``) gives what it has, and the
    next pass gives the budget left to the others. ``world.url`` is the hub."""
    schema = load_schema(world.url)
    who = identities or list(world.keys)
    cells = [(op, identity, mode) for op in operations(schema) for identity in who
             for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    summary = Summary()
    started = time.monotonic()
    with requests.Session() as session:
        for attempt in range(max_passes):
            if summary.cases >= budget or not cells:
                break
            per_cell = max(1, -(-(budget - summary.cases) // len(cells)))
            cells = [cell for cell in cells
                     if _fuzz_cell(session, world, cell, examples=per_cell, seed=seed + attempt,
                                 summary=summary)]
    summary.seconds = time.monotonic() - started
    return summary


def _fuzz_cell(session: requests.Session, world: World, cell: tuple[Any, str, GenerationMode],
               *, examples: int, seed: int, summary: Summary) -> bool:
    """Runs one cell; False when it can produce no case at all (a negative case for an
    operation that has nothing to get wrong), so later passes skip it."""
    op, identity, mode = cell
    strategy = st.tuples(_cases(op, mode, world), _chunk_body(op))

    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False)
    @given(drawn=strategy)
    def fuzz(drawn: tuple[Any, bytes | None]) -> None:
        case, chunk = drawn
        send_case(session, world, case, identity=identity, mode=mode.value, chunk=chunk,
                  summary=summary)

    try:
        hypothesis_seed(seed)(fuzz)()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            summary.no_negative.add(f"{op.method.upper()} {op.path}")
            return False
        summary.generation_errors.append(f"{op.method.upper()} {op.path} {identity}: "
                                         "no positive case")
        return False
    except Exception as error:  # a schema cell that cannot be drawn: not about the hub
        summary.generation_errors.append(f"{op.method.upper()} {op.path} {identity} "
                                         f"{mode.value}: {type(error).__name__}: {error}"[:300])
        return False
    return True


def _cases(op: Any, mode: GenerationMode, world: World) -> st.SearchStrategy[Any]:
    generated = op.as_strategy(generation_mode=mode)
    names = [p.name for p in op.path_parameters]
    real = {n: world.path_values[n] for n in names if n in world.path_values}
    if not real:
        return generated
    fixed = st.fixed_dictionaries({n: st.sampled_from(v) for n, v in real.items()})
    with_ids = fixed.flatmap(lambda params: op.as_strategy(generation_mode=mode,
                                                           path_parameters=params))
    return st.one_of(generated, with_ids)


def _chunk_body(op: Any) -> st.SearchStrategy[bytes | None]:
    """The chunk upload takes raw bytes the OpenAPI does not describe: draw them here."""
    if op.method.upper() == "PUT" and op.path.endswith("/chunks/{index}"):
        return st.one_of(st.binary(max_size=4096), st.just(os.urandom(2048)))
    return st.none()


def send_case(session: requests.Session, world: World, case: Any, *, identity: str,
              mode: str, chunk: bytes | None, summary: Summary) -> None:
    kwargs = case.as_transport_kwargs(base_url=world.url)
    kwargs.pop("auth", None)
    if chunk is not None:
        kwargs.pop("json", None)
        kwargs["data"] = chunk
        kwargs.setdefault("headers", {})["content-type"] = "application/octet-stream"
    route = f"{case.method.upper()} {case.path}"
    try:
        unsigned = session.prepare_request(requests.Request(**kwargs))
        body = unsigned.body or b""
        body = body.encode() if isinstance(body, str) else body
        if not isinstance(body, bytes):
            raise TypeError(f"unexpected body {type(body).__name__}")
        prepared = _signed(unsigned, world.keys[identity], body)
    except (ValueError, TypeError, UnicodeError, requests.RequestException):
        summary.unsendable += 1
        return
    summary.cases += 1
    summary.by_identity[identity] += 1
    if summary.cases % 500 == 0:
        print(f"fuzz: {summary.cases} cases, {dict(summary.by_status)}", file=sys.stderr)
    try:
        response = _send(session, prepared, unsigned, world.keys[identity], body)
    except (requests.ConnectionError, requests.Timeout) as error:
        summary.by_status[0] += 1
        summary.findings.append(Finding(identity, mode, route, None,
                                        f"no answer: {type(error).__name__}",
                                        _reproducer(prepared, body)))
        return
    with response:
        summary.by_status[response.status_code] += 1
        reason = _judge(response) or _nonconforming(case, response)
        if reason:
            summary.findings.append(Finding(identity, mode, route, response.status_code,
                                            reason, _reproducer(prepared, body)))


def _send(session: requests.Session, prepared: requests.PreparedRequest,
          unsigned: requests.PreparedRequest, key: dict[str, Any] | None,
          body: bytes) -> requests.Response:
    """Sends; a connection the hub closed after an earlier answer (keep-alive) fails before
    the request is read, so it is signed anew and sent once more on a new connection."""
    try:
        return session.send(prepared, timeout=TIMEOUT, stream=True, allow_redirects=False)
    except requests.ConnectionError:
        return session.send(_signed(unsigned, key, body), timeout=TIMEOUT, stream=True,
                            allow_redirects=False)


def _signed(unsigned: requests.PreparedRequest, key: dict[str, Any] | None,
            body: bytes) -> requests.PreparedRequest:
    """A copy of the request with a fresh signature (``key`` None: sent unsigned)."""
    prepared = unsigned.copy()
    if key is None:
        return prepared
    headers = dict(prepared.headers.items())
    headers["x-truc-nonce"] = os.urandom(12).hex()
    added = sign_request(prepared.method or "GET", prepared.url or "", headers,
                         hashlib.sha256(body).hexdigest(), access_key=key["access_key"],
                         secret=key["secret_key"], algorithm="TRUC4-HMAC-SHA256",
                         now=datetime.now(UTC), region="vn", service="truc")
    prepared.headers.update({**headers, **added})
    return prepared


def _judge(response: requests.Response) -> str:
    """Why this response is a finding, or '' if it is a fine answer."""
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind in STREAMING:
        return f"{response.status_code} stream" if response.status_code >= 500 else ""
    text = response.content[:1_000_000].decode("utf-8", "replace")
    if response.status_code >= 500:
        return f"{response.status_code}: {text[:300]}"
    if response.status_code < 400:
        return ""
    return _problem_fault(kind, text)


def _nonconforming(case: Any, response: requests.Response) -> str:
    """How the answer departs from the OpenAPI, or '' (the corpus's requests, which are
    not schemathesis cases, and streams are not checked)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if not hasattr(case, "validate_response") or kind in STREAMING:
        return ""
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except (Failure, FailureGroup) as failed:
        found = list(failed.exceptions) if isinstance(failed, FailureGroup) else [failed]
        return "not as the OpenAPI says: " + "; ".join(
            f"{f.title}: {f.message}"[:300] for f in found)
    return ""


def _problem_fault(kind: str, text: str) -> str:
    """What is wrong with an error body, or '' for a problem+json with a ``code``."""
    if kind != "application/problem+json":
        return f"error as {kind or 'no content type'}: {text[:200]}"
    try:
        problem = json.loads(text)
    except ValueError:
        return f"problem is not JSON: {text[:200]}"
    if not isinstance(problem, dict) or not problem.get("code"):
        return f"problem without a code: {text[:200]}"
    return ""


def _reproducer(prepared: requests.PreparedRequest, body: bytes) -> str:
    """What to send again (signing it anew): method, URL, interesting headers, body."""
    keep = {k: v for k, v in prepared.headers.items()
            if k.lower() not in {"authorization", "x-truc-date", "x-truc-content-sha256",
                                 "x-truc-nonce", "user-agent", "accept", "accept-encoding",
                                 "connection", "content-length", "host"}}
    shown = body[:400].decode("utf-8", "backslashreplace")
    return f"{prepared.method} {prepared.url} headers={keep} body={shown!r}"
