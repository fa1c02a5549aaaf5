"""The directory, code succession and directory sync end to end, on both backends: through
the operator API, an app's signed calls and the `truc` CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from api.client import TrucError
from hub.axis import signature
from tests.e2e.exchange import agency_with_app, client, next_code
from tests.e2e.hubs import RunningHub

pytestmark = pytest.mark.usefixtures("admin_key")


def app_env(hub: RunningHub, key: dict[str, Any]) -> dict[str, str]:
    return {**hub.env, "TRUC_URL": hub.url, "TRUC_ACCESS_KEY": key["access_key"],
            "TRUC_SECRET_KEY": key["secret_key"]}


SEARCH_PARENTS = itertools.count(10)


def cli(hub: RunningHub, key: dict[str, Any], *args: str) -> Any:
    import subprocess

    from tests.e2e.hubs import TRUC
    done = subprocess.run([TRUC, *args, "--json"], env=app_env(hub, key), cwd=hub.cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_search_is_accent_insensitive_paged_and_shows_the_hierarchy(
        hub: RunningHub) -> None:
    sender = agency_with_app(hub)
    # a parent of its own (next_code's run past 000.00.99 in a long test process, and a
    # child made by replacing "000.00." was then the parent itself: agency_exists)
    parent = f"000.00.{next(SEARCH_PARENTS):02d}.H61"
    hub.ops("POST", "/v1/ops/agencies", {"code": parent, "name": "Sở Tư pháp Kiểm thử"})
    child = parent.replace("000.00.", "000.01.", 1)
    hub.ops("POST", "/v1/ops/agencies", {"code": child, "name": "Phòng Công chứng số 1"})
    async with client(hub, sender) as app:
        page = await app.call("GET", "/v1/directory?" + urlencode({"q": "so tu phap kiem"}))
        assert [a["code"] for a in page["agencies"]] == [parent]
        [found] = page["agencies"]
        assert (found["level"], found["children"], found["parent"]) == (2, 1, None)
        kids = await app.call("GET", "/v1/directory?" + urlencode({"parent": parent}))
        assert [(a["code"], a["level"]) for a in kids["agencies"]] == [(child, 3)]
        one = await app.call("GET", f"/v1/directory/{child}")
        assert one["ancestors"][0] == {"code": parent, "name": "Sở Tư pháp Kiểm thử"}
        for _ in range(150):  # a signed call makes the sender's agency online, soon
            await app.whoami()
            mine = await app.call("GET", "/v1/directory?" + urlencode({"q": sender["code"]}))
            if mine["agencies"][0]["online"]:
                break
            await asyncio.sleep(0.2)
        assert mine["agencies"][0]["code"] == sender["code"]
        assert mine["agencies"][0]["online"] is True
        small = await app.call("GET", "/v1/directory?" + urlencode({"q": "h61", "limit": 1}))
        assert len(small["agencies"]) == 1 and small["total"] >= 2  # the parent and child
        with pytest.raises(TrucError) as too_many:
            await app.call("GET", "/v1/directory?limit=1000")
        assert (too_many.value.status, too_many.value.code) == (400, "invalid_request")
    listed = cli(hub, sender, "directory", "cong", "chung", "so")
    assert [a["code"] for a in listed["agencies"]] == [child]


async def test_an_old_code_reaches_the_successor_and_the_source_is_told(
        hub: RunningHub, tmp_path: Path) -> None:
    source, target = agency_with_app(hub), agency_with_app(hub)
    new_code = next_code()
    file = tmp_path / "cong-van.txt"
    file.write_text("Công văn gửi mã cũ")
    async with client(hub, source) as app:
        earlier = await app.send([target["code"]], "Gửi trước khi đổi mã", file)
    recorded = hub.ops("POST", "/v1/ops/successions", {
        "old_codes": [target["code"]], "new_code": new_code,
        "effective_at": datetime.now(UTC).isoformat(), "reason": "QĐ 09/2025/QĐ-TTg"})
    assert (recorded["code"], recorded["former_codes"]) == (new_code, [target["code"]])
    async with client(hub, source) as app:
        sealed = await app.send([target["code"]], "Công văn mã cũ", file)
        assert sealed["successors"] == {target["code"]: new_code}
        assert [d["agency_code"] for d in sealed["deliveries"]] == [new_code]
        later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        extended = await app.extend(earlier["package_id"], new_code, later)  # the new code
        assert [d["agency_code"] for d in extended["deliveries"]] == [target["code"]]
        found = await app.call("GET", f"/v1/directory/{target['code']}")
        assert (found["named"], found["code"]) == (target["code"], new_code)
    async with client(hub, target) as receiver:  # same agency, same apps and keys
        inbox = await receiver.inbox()
        assert sealed["package_id"] in [i["package_id"] for i in inbox]
    for code in (target["code"], new_code):  # history follows the agency across its codes
        rows = await _until_history(hub, code, sealed["package_id"])
        assert rows
    sent = cli(hub, source, "send", "--to", target["code"], "--title", "lần hai", str(file))
    assert sent["successors"] == {target["code"]: new_code}


async def test_a_merge_sends_every_old_code_to_one_agency(hub: RunningHub,
                                                          tmp_path: Path) -> None:
    source, keeper, merged = agency_with_app(hub), agency_with_app(hub), agency_with_app(hub)
    hub.admin("succession", "add", merged["code"], "--to", keeper["code"],
              "--reason", "sáp nhập")
    file = tmp_path / "f.txt"
    file.write_text("x")
    async with client(hub, source) as app:
        sealed = await app.send([merged["code"], keeper["code"]], "gộp", file)
    assert [d["agency_code"] for d in sealed["deliveries"]] == [keeper["code"]]
    listed = [a for a in hub.ops("GET", "/v1/ops/agencies") if a["code"] == merged["code"]]
    assert listed[0]["merged_into"] is not None
    refused = hub.truc("admin", "succession", "add", merged["code"], "--to", next_code(),
                       "--reason", "again", check=False)
    assert refused.returncode == 2 and "code_closed" in refused.stderr


@pytest.mark.timeout(900)  # six `truc` processes: minutes on a loaded box
async def test_a_national_list_syncs_by_diffs(hub: RunningHub, tmp_path: Path) -> None:
    a, b, c = next_code(), next_code(), next_code()
    first = [{"id": f"n-{a}", "pid": "", "code": a, "name": "Sở A", "mail": "a@x.vn",
              "oldCode": "", "code102": ""},
             {"id": f"n-{b}", "pid": "", "code": b, "name": "Sở B", "mail": "",
              "oldCode": "", "code102": ""}]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"status": "OK", "data": first}, ensure_ascii=False))
    dry = hub.admin("directory", "sync", str(path))
    assert (dry["applied"], dry["counts"]["added"]) == (False, 2)
    assert not [x for x in hub.ops("GET", "/v1/ops/agencies") if x["code"] == a]
    assert hub.admin("directory", "sync", str(path), "--apply")["counts"]["added"] == 2
    assert hub.admin("directory", "sync", str(path))["counts"]["added"] == 0
    second = [{**first[0], "name": "Sở A mới"},
              {**first[1], "code": c, "oldCode": b}]  # b re-coded to c
    path.write_text(json.dumps(second, ensure_ascii=False))
    applied = hub.admin("directory", "sync", str(path), "--apply")
    assert (applied["counts"]["renamed"], applied["counts"]["recoded"]) == (1, 1)
    codes = {x["code"]: x for x in hub.ops("GET", "/v1/ops/agencies")}
    assert codes[a]["name"] == "Sở A mới"
    assert codes[c]["former_codes"] == [b]
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": c, "name": "QLVB"})
    key = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"]
    async with client(hub, key) as removed_app:
        assert (await removed_app.whoami())["agency"]["code"] == c
    csv = tmp_path / "list.csv"
    csv.write_text(f"id,pid,code,name,mail,oldCode,code102\nn-{a},,{a},Sở A mới,,,\n",
                   encoding="utf-8-sig")
    removed = hub.admin("directory", "sync", str(csv), "--apply")
    assert removed["counts"]["removed"] >= 1
    assert c not in {x["code"] for x in hub.ops("GET", "/v1/ops/agencies")}
    async with client(hub, key) as removed_app:
        with pytest.raises(TrucError) as gone:
            await removed_app.whoami()
    assert (gone.value.status, gone.value.code) == (403, "agency_removed")
    verified = hub.truc("admin", "audit", "verify", "--json", check=False)
    assert verified.returncode == 0, verified.stdout  # every synced change is chained


async def _until_history(hub: RunningHub, code: str, package_id: str) -> list[Any]:
    import asyncio
    for _ in range(100):
        rows = hub.ops("GET", f"/v1/ops/agencies/{code}/history")
        found = [r for r in rows if r["package_id"] == package_id]
        if found:
            return found
        await asyncio.sleep(0.2)
    return []


def axis_post(hub: RunningHub, key: dict[str, Any], operation: str, *,
              secret: str | None = None, when: datetime | None = None) -> httpx.Response:
    """A call as the national axis's SDK makes it: XroadVnpt-* headers, HMAC-SHA256."""
    fields = {"systemid": key["access_key"], "servicetype": "eDoc", "messagetype": "edoc",
              "timestamp": signature.stamp(when or datetime.now(UTC)),
              "Content-Type": "application/json"}
    headers = {f"XroadVnpt-{k}": v for k, v in fields.items()}
    headers.update(signature.sign(fields, secret or key["secret_key"]))
    headers["XroadVnpt-version"] = "3.0.201608"
    return httpx.post(f"{hub.url}/{operation}", headers=headers, timeout=30)


@pytest.mark.timeout(900)
async def test_the_axis_facade_lists_agencies_that_a_sync_reads_back(
        hub: RunningHub, tmp_path: Path) -> None:
    caller = agency_with_app(hub)
    answer = axis_post(hub, caller, "getAgenciesList")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["ErrorCode"]) == ("OK", "0")
    rows = {r["code"]: r for r in body["data"]}
    assert rows[caller["code"]]["code102"] == caller["code"]
    assert set(rows[caller["code"]]) == {"id", "pid", "code", "name", "mail", "oldCode",
                                         "code102"}
    path = tmp_path / "axis.json"
    path.write_text(answer.text)
    back = hub.admin("directory", "sync", str(path))
    assert back["counts"] == {"added": 0, "renamed": 0, "recoded": 0, "removed": 0,
                              "invalid": 0}
    assert back["unchanged"] == len(rows)
    forged = axis_post(hub, caller, "getAgenciesList", secret="not-the-secret")
    assert (forged.status_code, forged.json()["status"]) == (401, "FAIL")
    stale = axis_post(hub, caller, "getAgenciesList",
                      when=datetime.now(UTC) - timedelta(hours=2))
    assert stale.json()["ErrorCode"] == "axis_clock_skew"
    other = axis_post(hub, caller, "registerAgency")
    assert (other.status_code, other.json()["ErrorCode"]) == (404, "not_supported")
