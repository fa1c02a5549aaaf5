"""Stock SigV4 libraries call the hub unchanged (both backends): botocore's ``SigV4Auth``
(no subclass), the AWS SDK for Java's ``AwsV4HttpSigner`` (tests/java/sigv4, built once
with the Maven the engines use), the ``aws4`` npm package (tests/node/aws4), and curl
given its own ``X-Truc-Date`` (curl 7.88 then sends the header twice).

Queries with spaces and accents are signed the way each library signs them — botocore
signs a URL's query as written, the hub sees it escaped by the HTTP library — and get 200.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

from tests.e2e.hubs import RunningHub
from tests.e2e.test_access import approved_app

ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = ROOT / "tests" / "java" / "sigv4"
NODE_DIR = ROOT / "tests" / "node" / "aws4"
REGION, SERVICE = "vn", "truc"
ACCENTED = "văn bản số 12"


def botocore_call(url: str, key: dict[str, Any], *, params: dict[str, str] | None = None,
                  method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    """Signed by botocore's own SigV4Auth and sent by botocore's own HTTP session."""
    headers = {"Content-Type": "application/json"} if body else {}
    request = AWSRequest(method, url, params=params, data=body, headers=headers)
    SigV4Auth(Credentials(key["access_key"], key["secret_key"]), SERVICE, REGION
              ).add_auth(request)
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    response = URLLib3Session().send(request.prepare())
    return response.status_code, json.loads(response.content or b"null")


def operator_key(hub: RunningHub) -> dict[str, Any]:
    hub.ops("GET", "/v1/ops/agencies")
    assert hub.admin_key is not None
    return hub.admin_key


def test_botocore_stock_sigv4auth_is_accepted(hub: RunningHub) -> None:
    key = approved_app(hub)
    status, me = botocore_call(f"{hub.url}/v1/whoami", key)
    assert status == 200, me
    assert me["agency"]["code"] == key["code"]
    body = json.dumps({"recipients": [key["code"]], "title": ACCENTED, "data_type": "pdf",
                       "size": 1, "sha256": "0" * 64}).encode()
    status, space = botocore_call(f"{hub.url}/v1/packages", key, method="POST", body=body)
    assert status == 201, space  # the body's hash in X-Amz-Content-Sha256 checked too
    assert space["state"] == "uploading"


@pytest.mark.parametrize("query_in_url", [False, True], ids=["params", "url"])
def test_botocore_queries_with_spaces_and_accents(hub: RunningHub,
                                                  query_in_url: bool) -> None:
    """botocore signs a query in the URL as written; the hub used to re-encode it (401)."""
    app = approved_app(hub)
    admin = operator_key(hub)
    today = datetime.now(UTC).date().isoformat()
    calls = [
        ("/v1/statistics", app, {"from": today, "to": today, "by": "day"}),
        (f"/v1/ops/agencies/{app['code']}/history", admin,
         {"from": today, "to": today, "q": ACCENTED}),
        (f"/v1/ops/agencies/{app['code']}/history", admin, {"q": "van ban", "status": ""}),
        (f"/v1/ops/agencies/{app['code']}/connections", admin,
         {"from": f"{today}T00:00:00Z", "format": "json"}),
    ]
    for path, key, params in calls:
        if query_in_url:  # as written by hand: spaces and accents left for the library
            query = "&".join(f"{k}={v}" for k, v in params.items())
            status, answer = botocore_call(f"{hub.url}{path}?{query}", key)
        else:
            status, answer = botocore_call(f"{hub.url}{path}", key, params=params)
        assert status == 200, (path, params, answer)


def java_signer() -> list[str]:
    """The classpath of SignAndSend, fetched and compiled once (kept under target/)."""
    classes, lib = JAVA_DIR / "target" / "classes", JAVA_DIR / "target" / "lib"
    mvn, javac = shutil.which(os.environ.get("TRUC_MVN", "mvn")), shutil.which("javac")
    assert mvn and javac, "Maven and a JDK are needed (they fetch and run the engines too)"
    if not any(lib.glob("http-auth-aws-*.jar")):
        subprocess.run([mvn, "-B", "-q", "-f", str(JAVA_DIR / "pom.xml"),
                        "dependency:copy-dependencies", f"-DoutputDirectory={lib}",
                        "-DincludeScope=runtime"], check=True, timeout=600)
    source = JAVA_DIR / "SignAndSend.java"
    compiled = classes / "SignAndSend.class"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        subprocess.run([javac, "-d", str(classes), "-cp", f"{lib}/*", str(source)],
                       check=True, timeout=300)
    return ["java", "-cp", f"{classes}{os.pathsep}{lib}/*", "SignAndSend"]


def signed_elsewhere(command: list[str], method: str, url: str, key: dict[str, Any],
                     body: str | None = None) -> tuple[int, Any]:
    args = [*command, method, url, key["access_key"], key["secret_key"], REGION, SERVICE]
    out = subprocess.run([*args, *([body] if body else [])], capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    return int(out[0]), json.loads(out[1])


def test_the_aws_sdk_for_java_signer_is_accepted(hub: RunningHub) -> None:
    java = java_signer()
    key = approved_app(hub)
    today = datetime.now(UTC).date().isoformat()
    query = urlencode({"from": today, "to": today}, safe="")
    status, stats = signed_elsewhere(java, "GET", f"{hub.url}/v1/statistics?{query}", key)
    assert status == 200, stats
    assert stats["agency"] == key["code"]
    body = json.dumps({"recipients": [key["code"]], "title": ACCENTED, "data_type": "pdf",
                       "size": 1, "sha256": "0" * 64})
    status, space = signed_elsewhere(java, "POST", f"{hub.url}/v1/packages", key, body)
    assert status == 201, space
    assert space["state"] == "uploading"


def test_the_aws4_npm_package_is_accepted(hub: RunningHub) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the aws4 package"
    if not (NODE_DIR / "node_modules" / "aws4").is_dir():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"],
                       cwd=NODE_DIR, check=True, timeout=300)
    key = approved_app(hub)
    query = urlencode({"q": ACCENTED}, safe="")
    status, me = signed_elsewhere([node, str(NODE_DIR / "sign.js")], "GET",
                                  f"{hub.url}/v1/whoami?{query}", key)
    assert status == 200, me
    assert me["agency"]["code"] == key["code"]


def test_curl_given_its_own_date_header_is_accepted(hub: RunningHub) -> None:
    """curl 7.88 sends ``-H "X-Truc-Date: …"`` and its own copy: once the same value twice
    (accepted), never silently a ``missing_date``."""
    key = approved_app(hub)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = subprocess.run(
        ["curl", "-q", "-sS", "--aws-sigv4", f"truc:truc:{REGION}:{SERVICE}", "--user",
         f"{key['access_key']}:{key['secret_key']}", "-H", f"X-Truc-Date: {stamp}",
         "-w", "\n%{http_code}", f"{hub.url}/v1/whoami"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    body, _, status = out.rpartition("\n")
    assert status == "200", body
    assert json.loads(body)["agency"]["code"] == key["code"]


def test_problem_titles_are_phrases(hub: RunningHub) -> None:
    """A domain refusal's title names its type in words, not the class (was "AuthError")."""
    answer = httpx.get(f"{hub.url}/v1/whoami", timeout=30)
    assert answer.status_code == 401
    assert (answer.json()["code"], answer.json()["title"]) == (
        "missing_signature", "Missing signature")
