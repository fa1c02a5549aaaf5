"""The authorization matrix (issue 10): every package action × every identity, with the
exact answer each cell must get, on both backends.

Each cell is one signed request. Actions that would change the package when allowed are
sent in a form that passes authorization and then fails a later, harmless check (a seal
with chunks missing, an ack with a wrong digest, a deadline in the past, a redirect to an
unknown agency), so an allowed caller is told what is wrong with its request while a
refused one gets the refusal; the status and the problem ``code`` tell them apart. Only
"cancel" is done for real, on a package of its own per allowed cell. Packages the caller's
agency neither sent nor receives are 404 (their existence is not revealed), an operator
key on an app route is 403 ``app_key_required``, no key is 401.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.auth.signing import sign_request
from tests.e2e.conftest import backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub

IDENTITIES = ("source", "sibling", "destination", "receive_only", "outsider",
              "admin", "auditor", "agency_admin", "no_key")
OP = "403 app_key_required"  # an operator key on an app route
NO = "401 missing_signature"  # no key
HIDDEN = "404 package_not_found"

# action:           source, sibling (same agency as the source), destination,
#                   receive_only (destination's agency, "receive" only), outsider (a third
#                   agency), admin, auditor, agency_admin (of the source's agency), no key
MATRIX: dict[str, tuple[str, ...]] = {
    "request_send": ("201", "201", "201", "403 not_granted", "201", OP, OP, OP, NO),
    "get_space": ("200", "200", HIDDEN, HIDDEN, HIDDEN, OP, OP, OP, NO),
    "upload_chunk": ("400 chunk_digest_mismatch", "400 chunk_digest_mismatch", HIDDEN,
                     HIDDEN, HIDDEN, OP, OP, OP, NO),
    "seal": ("409 chunks_missing", "409 chunks_missing", HIDDEN, HIDDEN, HIDDEN,
             OP, OP, OP, NO),
    "status": ("200", "200", "200", "200", HIDDEN, OP, OP, OP, NO),
    "extend": ("400 invalid_deadline", "400 invalid_deadline", HIDDEN, HIDDEN, HIDDEN,
               OP, OP, OP, NO),
    "redirect": ("400 unknown_destination", "400 unknown_destination", HIDDEN, HIDDEN,
                 HIDDEN, OP, OP, OP, NO),
    "recall_delivery": ("404 delivery_not_found", "404 delivery_not_found", HIDDEN, HIDDEN,
                        HIDDEN, OP, OP, OP, NO),
    "fetch": (HIDDEN, HIDDEN, "200", "200", HIDDEN, OP, OP, OP, NO),
    "ack": (HIDDEN, HIDDEN, "409 digest_mismatch", "409 digest_mismatch", HIDDEN,
            OP, OP, OP, NO),
    "report_status": ("400 status_not_yours", "400 status_not_yours", "201",
                      "403 not_granted", HIDDEN, OP, OP, OP, NO),
    "inbox": ("200", "200", "200", "200", "200", OP, OP, OP, NO),
    "events": ("200", "200", "200", "200", "200", OP, OP, OP, NO),
    "cancel": ("200", "200", HIDDEN, HIDDEN, HIDDEN, OP, OP, OP, NO),
}
UNKNOWN_AGENCY = "000.98.98.H53"  # well-formed, never registered by any test
PAST = "2020-01-01T00:00:00+07:00"


@dataclass
class Setup:
    hub: RunningHub
    keys: dict[str, dict[str, Any] | None]
    codes: dict[str, str]  # "source" / "destination" / "outsider" agency codes
    open_id: str  # a space with nothing uploaded yet
    sealed_id: str  # sealed and delivered to the destination's agency
    sha256: str


@pytest.fixture(scope="module", params=["embedded", pytest.param(
    "distributed", marks=pytest.mark.engines)])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Setup]:
    with backend_hub(request, tmp_path_factory, "authz") as hub:
        yield _setup(hub)


def _setup(hub: RunningHub) -> Setup:
    source, destination, outsider = (agency_with_app(hub) for _ in range(3))
    keys: dict[str, dict[str, Any] | None] = {
        "source": source, "destination": destination, "outsider": outsider,
        "sibling": _app(hub, source["code"], []),
        "receive_only": _app(hub, destination["code"], ["receive"]),
        "auditor": hub.ops("POST", "/v1/ops/operators",
                           {"name": "Thanh tra", "role": "auditor"})["key"],
        "agency_admin": hub.ops("POST", "/v1/ops/operators", {
            "name": "Quản trị đơn vị", "role": "agency-admin",
            "agency_code": source["code"]})["key"],
        "no_key": None}
    keys["admin"] = hub.admin_key
    open_id, sealed_id, digest = asyncio.run(_packages(hub, source, destination))
    codes = {"source": source["code"], "destination": destination["code"],
             "outsider": outsider["code"]}
    return Setup(hub, keys, codes, open_id, sealed_id, digest)


def _app(hub: RunningHub, code: str, operations: list[str]) -> dict[str, Any]:
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "Một cửa"})
    approved = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                       {"operations": operations})
    return {"code": code, "app_id": app["app_id"], **approved["key"]}


PAYLOAD = b"matrix payload " * 100


async def _packages(hub: RunningHub, source: dict[str, Any],
                    destination: dict[str, Any]) -> tuple[str, str, str]:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.bin"
        path.write_bytes(PAYLOAD)
        async with client(hub, source) as app:
            sealed = await app.send([destination["code"]], "Công văn", path)
            space = await app.call("POST", "/v1/packages", json_body={
                "recipients": [destination["code"]], "title": "Tờ trình", "size": len(PAYLOAD),
                "sha256": digest, "priority": "normal", "data_type": "binary"})
        async with client(hub, destination) as dest, asyncio.timeout(60):
            while sealed["package_id"] not in {p["package_id"] for p in await dest.inbox()}:
                await asyncio.sleep(0.2)
    return space["package_id"], sealed["package_id"], digest


def call(s: Setup, identity: str, method: str, path: str, body: Any = None, *,
         headers: dict[str, str] | None = None, raw: bytes | None = None) -> str:
    """One request as ``identity``; "STATUS" on success, "STATUS code" on a problem."""
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    url = f"{s.hub.url}{path}"
    sent = {"content-type": "application/json", **(headers or {})}
    key = s.keys[identity]
    if key is not None:
        sent["x-truc-nonce"] = os.urandom(8).hex()
        sent.update(sign_request(method, url, sent, hashlib.sha256(content).hexdigest(),
                                 access_key=key["access_key"], secret=key["secret_key"],
                                 algorithm="TRUC4-HMAC-SHA256", now=datetime.now(UTC),
                                 region="vn", service="truc"))
    with httpx.stream(method, url, content=content, headers=sent, timeout=60) as response:
        if response.status_code < 400:
            return str(response.status_code)  # a stream (events) is left unread
        response.read()
        return f"{response.status_code} {response.json().get('code')}"


def _actions(s: Setup) -> dict[str, Callable[[str], str]]:
    o, p, dest = s.open_id, s.sealed_id, s.codes["destination"]
    chunk = PAYLOAD  # the whole package is one chunk
    return {
        "request_send": lambda who: call(
            s, who, "POST", "/v1/packages", {
                "recipients": [dest], "title": "Giấy mời", "size": 10,
                "sha256": hashlib.sha256(b"0123456789").hexdigest(), "priority": "normal",
                "data_type": "binary"}, headers={"idempotency-key": os.urandom(8).hex()}),
        "get_space": lambda who: call(s, who, "GET", f"/v1/packages/{o}/space"),
        "upload_chunk": lambda who: call(
            s, who, "PUT", f"/v1/packages/{o}/chunks/0", raw=chunk,
            headers={"content-type": "application/octet-stream", "x-chunk-sha256": "0" * 64}),
        "seal": lambda who: call(s, who, "POST", f"/v1/packages/{o}/seal", {}),
        "status": lambda who: call(s, who, "GET", f"/v1/packages/{p}"),
        "extend": lambda who: call(s, who, "POST", f"/v1/packages/{p}/deliveries/{dest}/extend",
                                   {"deadline": PAST}),
        "redirect": lambda who: call(
            s, who, "POST", f"/v1/packages/{p}/deliveries/{dest}/redirect",
            {"to": UNKNOWN_AGENCY}),
        "recall_delivery": lambda who: call(
            s, who, "POST", f"/v1/packages/{p}/deliveries/{s.codes['outsider']}/cancel", {}),
        "fetch": lambda who: call(s, who, "GET", f"/v1/packages/{p}/content"),
        "ack": lambda who: call(s, who, "POST", f"/v1/packages/{p}/ack", {"sha256": "0" * 64}),
        "report_status": lambda who: call(s, who, "POST", f"/v1/packages/{p}/status",
                                          {"code": "01", "note": "Đã nhận"}),
        "inbox": lambda who: call(s, who, "GET", "/v1/inbox"),
        "events": lambda who: call(s, who, "GET", "/v1/events"),
        "cancel": lambda who: call(s, who, "POST", f"/v1/packages/{_target(s, who)}/cancel",
                                   {"reason": "gửi nhầm"}),
    }


def _target(s: Setup, who: str) -> str:
    """Cancel is done for real: a package of its own for each cell that may do it, the
    shared one for the others (a cell wrongly allowed would show, and spoil nothing else:
    cancel is the last action)."""
    if not MATRIX["cancel"][IDENTITIES.index(who)].startswith("2"):
        return s.sealed_id
    return asyncio.run(_sent_by_source(s))


async def _sent_by_source(s: Setup) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.bin"
        path.write_bytes(os.urandom(100))
        source = s.keys["source"]
        assert source is not None
        async with client(s.hub, source) as app:
            sent = await app.send([s.codes["destination"]], "Thu hồi", path)
            async with asyncio.timeout(60):  # the source sees its package before cancelling
                while (await app.package(sent["package_id"]))["state"] != "sealed":
                    await asyncio.sleep(0.1)
    return str(sent["package_id"])


def test_every_package_action_by_every_identity_gets_exactly_its_answer(setup: Setup) -> None:
    actions = _actions(setup)
    assert list(actions) == list(MATRIX)  # the table and the actions name the same rows
    observed = {name: tuple(act(who) for who in IDENTITIES) for name, act in actions.items()}
    wrong = {f"{name} × {who}": f"expected {MATRIX[name][i]!r}, got {got[i]!r}"
             for name, got in observed.items() for i, who in enumerate(IDENTITIES)
             if got[i] != MATRIX[name][i]}
    assert not wrong, json.dumps(wrong, indent=1, ensure_ascii=False) + "\n" + json.dumps(
        observed, indent=1, ensure_ascii=False)


def test_the_inbox_lists_a_package_only_to_its_destination_agency(setup: Setup) -> None:
    def listed(who: str) -> bool:
        key = setup.keys[who]
        assert key is not None
        return asyncio.run(_in_inbox(setup, key))

    assert {who: listed(who) for who in ("source", "sibling", "destination", "receive_only",
                                          "outsider")} == {
        "source": False, "sibling": False, "destination": True, "receive_only": True,
        "outsider": False}


async def _in_inbox(s: Setup, key: dict[str, Any]) -> bool:
    async with client(s.hub, key) as app:
        return s.sealed_id in {p["package_id"] for p in await app.inbox()}
