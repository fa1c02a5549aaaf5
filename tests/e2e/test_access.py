"""Access control end to end (both backends): registration, approval, the three signing
schemes (with real curl), revocation, session keys, operator/app separation, replays."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.client import TrucClient, TrucError
from hub.auth.signing import TRUC4, Scheme, sign_request
from infra.rsa_keys import generate_rsa_keypair
from tests.e2e.exchange import next_code
from tests.e2e.hubs import TRUC, RunningHub

TRUC_CMD = [TRUC]

new_code = next_code  # one counter per process: never the code of another test's agency


def approved_app(hub: RunningHub, *grants: str, rsa_public_key: str | None = None,
                 code: str | None = None) -> dict[str, Any]:
    """An agency with one approved app, set up through the operator API (the CLI has its
    own tests)."""
    code = code or new_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": f"Sở {code}"})
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB",
                                           "rsa_public_key_pem": rsa_public_key})
    approved = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                       {"operations": list(grants)})
    return {"code": code, "app_id": app["app_id"], **approved["key"]}


def client(hub: RunningHub, key: dict[str, Any], **kw: Any) -> TrucClient:
    return TrucClient(hub.url, key["access_key"], key.get("secret_key"), **kw)


async def test_an_approved_hmac_app_is_accepted(hub: RunningHub) -> None:
    key = approved_app(hub)
    async with client(hub, key) as app:
        me = await app.whoami()
    assert me["agency"]["code"] == key["code"]
    assert me["app"]["state"] == "approved"


async def test_an_unknown_or_unapproved_app_is_refused(hub: RunningHub) -> None:
    code = new_code()
    hub.admin("agency", "add", code, "--name", "Sở chưa duyệt")
    registered = hub.admin("app", "add", "--agency", code, "--name", "QLVB")
    assert registered["state"] == "registered" and registered["keys"] == []
    async with TrucClient(hub.url, "TRUCNOTAKEY", "guess") as app:
        with pytest.raises(TrucError) as refused:
            await app.whoami()
    assert refused.value.status == 401 and refused.value.code == "unknown_access_key"


def test_real_curl_with_aws_sigv4_is_accepted(hub: RunningHub) -> None:
    key = approved_app(hub)
    time_info = httpx.get(f"{hub.url}/v1/time").json()
    sigv4 = f"truc:truc:{time_info['region']}:{time_info['service']}"
    result = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "--user", f"{key['access_key']}:{key['secret_key']}",
         "--aws-sigv4", sigv4, f"{hub.url}/v1/whoami"],
        capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["agency"]["code"] == key["code"]
    body = json.dumps({"destination": key["code"]})
    result = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "--user", f"{key['access_key']}:{key['secret_key']}",
         "--aws-sigv4", sigv4, "-H", "content-type: application/json", "-d", body,
         f"{hub.url}/v1/auth/sessions"],
        capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["token_type"] == "Bearer"


@pytest.mark.parametrize("scheme", [Scheme.RSA_SHA256, Scheme.RSA_PSS_SHA256, Scheme.HMAC_SHA1])
async def test_rsa_and_sha1_signatures_are_accepted(hub: RunningHub, scheme: Scheme) -> None:
    if scheme is Scheme.HMAC_SHA1:
        key = approved_app(hub)
        app = client(hub, key, algorithm=scheme.algorithm(TRUC4))
    else:
        private_pem, public_pem = generate_rsa_keypair()
        key = approved_app(hub, rsa_public_key=public_pem)
        assert key["algorithm"] == "RSA" and key["secret_key"] is None
        app = TrucClient(hub.url, key["access_key"], private_key_pem=private_pem,
                         algorithm=scheme.algorithm(TRUC4))
    async with app:
        assert (await app.whoami())["agency"]["code"] == key["code"]


async def test_a_revoked_key_is_refused_on_the_next_request(
    hub: RunningHub, admin_key: dict[str, Any]
) -> None:
    key = approved_app(hub)
    async with client(hub, key) as app, client(hub, admin_key) as ops:
        await app.whoami()
        await ops.call("POST", f"/v1/ops/apps/{key['app_id']}/revoke",
                       json_body={"reason": "form 06"})
        with pytest.raises(TrucError) as refused:
            await app.whoami()
    assert refused.value.code == "key_revoked"


async def test_a_revocation_from_another_process_reaches_the_hub(hub: RunningHub) -> None:
    """The CLI writes to the log from its own process; the hub learns it from the log."""
    key = approved_app(hub)
    async with client(hub, key) as app:
        await app.whoami()
        hub.admin("app", "revoke", key["app_id"])
        code = await refused_within(app, seconds=5)
    assert code == "key_revoked"


async def refused_within(app: TrucClient, seconds: float) -> str:
    async with asyncio.timeout(seconds):
        while True:
            try:
                await app.whoami()
            except TrucError as refused:
                return refused.code
            await asyncio.sleep(0.05)


async def test_rotation_keeps_the_old_key_for_the_overlap(hub: RunningHub) -> None:
    key = approved_app(hub)
    rotated = hub.admin("key", "rotate", key["app_id"], "--overlap-hours", "1")["key"]
    async with client(hub, key) as old, client(hub, {**rotated}) as new:
        assert (await old.whoami())["agency"]["code"] == key["code"]
        assert (await new.whoami())["agency"]["code"] == key["code"]
    hub.admin("key", "rotate", key["app_id"], "--overlap-hours", "0")
    async with client(hub, key) as old:
        with pytest.raises(TrucError) as refused:
            await old.whoami()
    assert refused.value.code == "key_expired"


async def test_sessions_issue_introspect_and_die_with_revocation(hub: RunningHub) -> None:
    source = approved_app(hub)
    destination = approved_app(hub)
    bystander = approved_app(hub)
    async with client(hub, source) as src, client(hub, destination) as dst, \
            client(hub, bystander) as other:
        session = await src.open_session(destination["code"], ["send"])
        assert session["destination"] == destination["code"] and session["operations"] == ["send"]
        answer = await dst.introspect(session["token"])
        assert answer["active"] is True and answer["src"] == source["code"]
        assert (await other.introspect(session["token"])) == {"active": False}
        assert (await dst.introspect(session["token"][:-4] + "AAAA")) == {"active": False}
        async with httpx.AsyncClient() as http:
            jwks = (await http.get(f"{hub.url}/v1/auth/jwks")).json()
        assert jwks["keys"][0]["crv"] == "Ed25519"
        hub.admin("app", "revoke", source["app_id"])
        assert (await dst.introspect(session["token"])) == {"active": False}


async def test_sessions_respect_grants(hub: RunningHub) -> None:
    allowed = new_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": allowed, "name": "Đích được phép"})
    forbidden = approved_app(hub)["code"]
    code = new_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": "Nguồn"})
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB"})
    key = hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                  {"operations": ["send"], "destinations": [allowed]})["key"]
    async with client(hub, key) as src:
        assert (await src.open_session(allowed))["operations"] == ["send"]
        for destination, ops in ((forbidden, ["send"]), (allowed, ["receive"])):
            with pytest.raises(TrucError) as refused:
                await src.open_session(destination, ops)
            assert refused.value.status == 403 and refused.value.code == "not_granted"
        with pytest.raises(TrucError) as unknown:
            # another province: next_code() registers H53 codes on this shared hub
            await src.open_session("000.00.99.H98")
        assert unknown.value.code == "unknown_agency"


async def test_operator_endpoints_refuse_app_keys_and_apps_refuse_operators(
    hub: RunningHub, admin_key: dict[str, Any]
) -> None:
    key = approved_app(hub)
    async with client(hub, key) as app:
        with pytest.raises(TrucError) as refused:
            await app.call("GET", "/v1/ops/agencies")
    assert refused.value.status == 403 and refused.value.code == "operator_key_required"
    async with client(hub, admin_key) as operator:
        with pytest.raises(TrucError) as refused:
            await operator.whoami()
    assert refused.value.code == "app_key_required"


async def test_operators_manage_the_registry_over_http(
    hub: RunningHub, admin_key: dict[str, Any]
) -> None:
    code = new_code()
    async with client(hub, admin_key) as ops:
        agency = await ops.call("POST", "/v1/ops/agencies",
                                json_body={"code": code, "name": "Sở Y tế"})
        assert agency["parent_code"] == "000.00.00.H53"
        app = await ops.call("POST", "/v1/ops/apps",
                             json_body={"agency_code": code, "name": "Một cửa"})
        approved = await ops.call("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                                  json_body={"operations": ["send", "receive"]})
        with pytest.raises(TrucError) as bad:
            await ops.call("POST", "/v1/ops/agencies", json_body={"code": "H53", "name": "x"})
        assert bad.value.status == 400 and bad.value.code == "invalid_agency_code"
        auditor = await ops.call("POST", "/v1/ops/operators",
                                 json_body={"name": "Thanh tra", "role": "auditor"})
        local = await ops.call("POST", "/v1/ops/operators",
                               json_body={"name": "QTV", "role": "agency-admin",
                                          "agency_code": code})
    async with client(hub, approved["key"]) as app_client:
        assert (await app_client.whoami())["agency"]["code"] == code
    async with client(hub, auditor["key"]) as aud:
        assert any(a["code"] == code for a in await aud.call("GET", "/v1/ops/agencies"))
        with pytest.raises(TrucError) as refused:
            await aud.call("POST", "/v1/ops/agencies", json_body={"code": new_code(), "name": "x"})
        assert refused.value.code == "role_not_allowed"
    async with client(hub, local["key"]) as agency_admin:
        seen = await agency_admin.call("GET", "/v1/ops/agencies")
        assert [a["code"] for a in seen] == [code]


async def test_replays_skew_and_tampering_are_refused(hub: RunningHub) -> None:
    key = approved_app(hub)
    body = json.dumps({"destination": key["code"]}).encode()
    url = f"{hub.url}/v1/auth/sessions"

    def signed(offset: timedelta = timedelta(0)) -> dict[str, str]:
        from datetime import UTC, datetime
        return sign_request("POST", url, {"content-type": "application/json"},
                            hashlib.sha256(body).hexdigest(), access_key=key["access_key"],
                            secret=key["secret_key"], algorithm="TRUC4-HMAC-SHA256",
                            now=datetime.now(UTC) + offset, region="vn", service="truc")

    async with httpx.AsyncClient() as http:
        headers = {"content-type": "application/json", **signed()}
        first = await http.post(url, content=body, headers=headers)
        assert first.status_code == 201, first.text
        again = await http.post(url, content=body, headers=headers)
        assert again.status_code == 401 and again.json()["code"] == "replayed_request"
        late = await http.post(url, content=body,
                               headers={"content-type": "application/json",
                                        **signed(timedelta(minutes=10))})
        assert late.status_code == 401 and late.json()["code"] == "clock_skew"
        assert "server_time" in late.json()
        assert late.headers["content-type"] == "application/problem+json"
        tampered = await http.post(url, content=body.replace(b"destination", b"destinatioN"),
                                   headers={"content-type": "application/json", **signed()})
        assert tampered.status_code == 401
        assert tampered.json()["code"] in {"payload_mismatch", "signature_mismatch"}
        unsigned = await http.get(f"{hub.url}/v1/whoami")
        assert unsigned.status_code == 401 and unsigned.json()["code"] == "missing_signature"
        assert "date" in unsigned.headers


def test_the_admin_cli_works_remotely_with_an_operator_key(
    hub: RunningHub, admin_key: dict[str, Any]
) -> None:
    remote = {**hub.env, "TRUC_URL": hub.url, "TRUC_OPERATOR_ACCESS_KEY": admin_key["access_key"],
              "TRUC_OPERATOR_SECRET_KEY": admin_key["secret_key"],
              "TRUC_DATA_DIR": "/nonexistent"}
    code = new_code()

    def truc(*args: str, env: dict[str, str] = remote) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TRUC_CMD, "admin", *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    added = truc("agency", "add", code, "--name", "Sở Nội vụ", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["code"] == code
    assert code in [a["code"] for a in json.loads(truc("agency", "list", "--json").stdout)]
    auditor = json.loads(truc("operator", "add", "Kiểm toán", "--role", "auditor",
                              "--json").stdout)["key"]
    as_auditor = {**remote, "TRUC_OPERATOR_ACCESS_KEY": auditor["access_key"],
                  "TRUC_OPERATOR_SECRET_KEY": auditor["secret_key"]}
    refused = truc("agency", "add", new_code(), "--name", "x", env=as_auditor)
    assert refused.returncode == 2 and "role_not_allowed" in refused.stderr
