"""Issue 10's bounds through HTTP, on both backends: a value the log could not hold is a
400 naming its field and nothing is recorded (findings 1, 2, 9); lookalike agency codes
(7); Range forms (9); statuses from a withdrawn destination, unsigned Idempotency-Key and
Content-Type, the Host (11); and the CLI's answer to a title that is not UTF-8."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.client import TrucClient, TrucError
from hub.auth.signing import sign_request
from tests.e2e.exchange import agency_with_app, client, next_code
from tests.e2e.hubs import TRUC, RunningHub, running_hub

LATE = "9999-12-31T23:59:59-00:01"


def signed(hub: RunningHub, key: dict[str, Any], method: str, path: str, *,
           body: bytes = b"", headers: dict[str, str] | None = None,
           unsigned: dict[str, str] | None = None, host: str | None = None) -> httpx.Response:
    """One request signed with ``key``: ``headers`` signed, ``unsigned`` added after."""
    url = f"{hub.url}{path}"
    sent = {"x-truc-nonce": os.urandom(8).hex(), **(headers or {})}
    if host is not None:
        sent["Host"] = host
    sent.update(sign_request(method, url, sent, hashlib.sha256(body).hexdigest(),
                             access_key=key["access_key"], secret=key["secret_key"],
                             algorithm="TRUC4-HMAC-SHA256", now=datetime.now(UTC),
                             region="vn", service="truc"))
    sent.update(unsigned or {})
    return httpx.request(method, url, content=body, headers=sent, timeout=60)


def post_json(hub: RunningHub, key: dict[str, Any], path: str, text: str) -> httpx.Response:
    """``text`` as the body exactly (JSON escapes such as ``\\udcf4`` kept)."""
    return signed(hub, key, "POST", path, body=text.encode(),
                  headers={"content-type": "application/json"})


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def fields(body: dict[str, Any]) -> set[str]:
    """The fields a problem names: the domain's ``field``, or the API shape's ``errors``."""
    named = {str(e["loc"][-1]) for e in body.get("errors", [])}
    return named | ({body["field"]} if "field" in body else set())


@pytest.fixture(scope="module")
def pair(hub: RunningHub) -> tuple[dict[str, Any], dict[str, Any]]:
    return agency_with_app(hub), agency_with_app(hub)


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "cong-van.txt"
    path.write_bytes("Công văn về giới hạn giá trị".encode() * 40)
    return path


async def uploaded(src: TrucClient, dest_code: str, doc: Path) -> str:
    """A package whose every chunk is uploaded, not yet sealed."""
    data = doc.read_bytes()
    space = await src.call("POST", "/v1/packages", json_body={
        "recipients": [dest_code], "title": "Công văn", "data_type": "pdf",
        "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    await src.upload(space["package_id"], doc)
    return str(space["package_id"])


async def test_an_unreadable_deadline_or_a_huge_wait_is_400_and_nothing_is_recorded(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]], doc: Path) -> None:
    """Findings 1 and 2: the seal that once halted every processor is refused; the package
    is still open, and sealing it properly afterwards works."""
    source, dest = pair
    async with client(hub, source) as src:
        package_id = await uploaded(src, dest["code"], doc)
        before = (await src.package(package_id))["timeline"]
    seal = f"/v1/packages/{package_id}/seal"
    for body, field in [(f'{{"deadline": "{LATE}"}}', "deadline"),
                        ('{"offline_wait_seconds": 1e17}', "offline_wait_seconds"),
                        ('{"offline_wait_seconds": 1000000000000000000000000000000}',
                         "offline_wait_seconds"),
                        ('{"offline_wait_seconds": -1}', "offline_wait_seconds"),
                        ('{"offline_wait_seconds": 1.5}', "offline_wait_seconds"),
                        ('{"offline_wait_seconds": "soon"}', "offline_wait_seconds")]:
        refused = problem(post_json(hub, source, seal, body), 400)
        assert field in fields(refused), (body, refused)
        assert refused["retriable"] is False
    async with client(hub, source) as src, client(hub, dest) as dst:
        assert (await src.package(package_id))["timeline"] == before, "nothing recorded"
        deadline = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        sealed = await src.call("POST", seal, json_body={"deadline": deadline,
                                                         "offline_wait_seconds": 3600})
        assert sealed["state"] == "sealed"
        extended = post_json(hub, source, f"/v1/packages/{package_id}/deliveries/"
                                          f"{dest['code']}/extend", f'{{"deadline": "{LATE}"}}')
        assert fields(problem(extended, 400)) == {"deadline"}
        assert [m["package_id"] for m in await dst.inbox()].count(package_id) == 1


async def test_a_lone_surrogate_in_a_title_or_a_note_is_400_not_500(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]], doc: Path) -> None:
    """Finding 9: JSON may spell a lone surrogate (``\\udcf4``); no event may carry one."""
    source, dest = pair
    data = doc.read_bytes()
    body = json.dumps({"recipients": [dest["code"]], "title": "C\udcf4ng", "data_type": "pdf",
                       "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    assert "\\udcf4" in body
    assert fields(problem(post_json(hub, source, "/v1/packages", body), 400)) == {"title"}
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = await src.send([dest["code"]], "Công văn", doc)
        await dst.fetch(sent["package_id"], doc.with_suffix(".got"))
    note = post_json(hub, dest, f"/v1/packages/{sent['package_id']}/status",
                     '{"code": "03", "note": "C\\udcf4ng"}')
    assert fields(problem(note, 400)) == {"note"}


async def test_a_huge_overlap_on_key_rotation_is_400(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    source, _ = pair
    hub.ops("GET", "/v1/ops/agencies")
    assert hub.admin_key is not None
    for hours in ("4.76e16", "1e400", "-1"):
        rotated = post_json(hub, hub.admin_key, f"/v1/ops/principals/{source['app_id']}/keys",
                            f'{{"overlap_hours": {hours}}}')
        assert fields(problem(rotated, 400)) == {"overlap_hours"}, hours


def test_lookalike_agency_codes_are_refused(hub: RunningHub) -> None:
    """Finding 7: fullwidth and Arabic-Indic digits are not a new agency."""
    hub.ops("GET", "/v1/ops/agencies")
    assert hub.admin_key is not None
    for code in ("000.00.\uff11\uff11.H53", "000.00.\u0661\u0661.H53"):
        body = json.dumps({"code": code, "name": "Sở giả"})
        added = post_json(hub, hub.admin_key, "/v1/ops/agencies", body)
        assert problem(added, 400)["code"] == "invalid_agency_code"


async def test_odd_ranges_are_416_or_400_with_a_problem(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]], doc: Path) -> None:
    """Finding 9: ``bytes=-0`` once answered 206 ``bytes 10-9/10`` and a traceback."""
    source, dest = pair
    async with client(hub, source) as src:
        sent = await src.send([dest["code"]], "Công văn", doc)
    content = f"/v1/packages/{sent['package_id']}/content"
    for value, status in [("bytes=-0", 416), ("bytes=5-2", 416),
                          (f"bytes={10**30}-", 416), ("bytes=-", 400),
                          ("bytes=0-1,3-4", 400)]:
        answer = signed(hub, dest, "GET", content, headers={"range": value})
        assert problem(answer, status)["status"] == status, value
    tail = signed(hub, dest, "GET", content, headers={"range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, doc.read_bytes()[-5:])


async def test_a_withdrawn_destination_cannot_post_statuses(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]], doc: Path) -> None:
    """Finding 11: after a redirect (or a recall) the former destination gets 409."""
    source, dest = pair
    other = agency_with_app(hub)
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = await src.send([dest["code"]], "Công văn", doc)
        await src.redirect(sent["package_id"], dest["code"], other["code"])
        with pytest.raises(TrucError) as refused:
            await dst.report_status(sent["package_id"], "03")
    assert (refused.value.status, refused.value.code) == (409, "delivery_closed")


def test_idempotency_key_and_content_type_must_be_signed(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Finding 11: a header that changes what the request means cannot ride unsigned."""
    source, dest = pair
    body = json.dumps({"recipients": [dest["code"]], "title": "x", "data_type": "pdf",
                       "size": 1, "sha256": "0" * 64}).encode()
    swapped = signed(hub, source, "POST", "/v1/packages", body=body,
                     headers={"content-type": "application/json"},
                     unsigned={"idempotency-key": uuid.uuid4().hex})
    assert problem(swapped, 401)["code"] == "unsigned_header"
    typed = signed(hub, source, "POST", "/v1/packages", body=body,
                   unsigned={"content-type": "application/json"})
    assert problem(typed, 401)["code"] == "unsigned_header"


def test_the_cli_refuses_a_title_that_is_not_utf8_before_sending_it(
        hub: RunningHub, pair: tuple[dict[str, Any], dict[str, Any]], doc: Path) -> None:
    """Finding 9: ``truc send --title "$(printf 'C\\xf4ng')"`` once got a 500 marked
    retriable and retried it for 27 s. The client now names the field before any request
    (its message is ``NotText``'s, never a refusal relayed from the hub)."""
    source, dest = pair
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env.update({"TRUC_URL": hub.url, "TRUC_ACCESS_KEY": source["access_key"],
                "TRUC_SECRET_KEY": source["secret_key"]})
    result = subprocess.run([os.fsencode(TRUC), b"send", os.fsencode(doc), b"--to",
                             dest["code"].encode(), b"--title", b"C\xf4ng"], env=env,
                            capture_output=True, timeout=120, check=False)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 2, stderr
    assert "error: title is not valid UTF-8 text" in stderr, stderr
    assert "internal_error" not in stderr


# --- the Host, against a hub that knows its public name (embedded: a setting) ----------------


@pytest.fixture(scope="module")
def named_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("named")
    with running_hub("embedded", tmp, public_hosts="hub.example.vn, truc.example.vn:8443"
                     ) as running:
        yield running


def test_a_hub_with_public_hosts_refuses_a_request_signed_for_another_host(
        named_hub: RunningHub) -> None:
    code = next_code()
    key = named_hub.admin("operator", "add", "Trung tâm CNTT", "--role", "admin")["key"]
    ours = signed(named_hub, key, "POST", "/v1/ops/agencies",
                  body=json.dumps({"code": code, "name": "Sở"}).encode(),
                  headers={"content-type": "application/json"}, host="hub.example.vn")
    assert ours.status_code == 201, ours.text
    theirs = signed(named_hub, key, "GET", "/v1/ops/agencies", host="staging.example.vn")
    assert problem(theirs, 401)["code"] == "wrong_host"
