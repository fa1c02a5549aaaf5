"""Request signatures: SigV4 conformance (AWS suite vectors, botocore), the TRUC4 schemes, and
compatibility with the real ``curl --aws-sigv4``."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hub.auth import (
    AWS4,
    EMPTY_SHA256,
    TRUC4,
    UNSIGNED_PAYLOAD,
    AuthError,
    Authorization,
    HttpRequest,
    Provider,
    Scheme,
    canonical_path,
    canonical_query,
    canonical_request,
    hmac_signature,
    parse_authorization,
    sign_request,
    signing_key,
    string_to_sign,
    verify_signature,
)
from hub.auth.signing import cached_signing_key, provider_of, scheme_of
from infra.rsa_keys import check_rsa_public_key, generate_rsa_keypair, sign_rsa, verify_rsa

AK = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION, SERVICE = "vn-south-1", "truc"
NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
SKEW = timedelta(minutes=5)
STRICT_AWS4 = dataclasses.replace(AWS4, accept_as_sent=False)


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def server_request(method: str, url: str, headers: Any, body: bytes = b"") -> HttpRequest:
    """What the hub would see for a request sent to ``url`` with these headers."""
    parts = urlsplit(url)
    pairs = tuple(headers.items()) if hasattr(headers, "items") else tuple(headers)
    return HttpRequest(method, parts.path or "/", parts.query, pairs, sha256(body))


def verify(req: HttpRequest, *, provider: Provider = TRUC4, now: datetime = NOW,
           region: str = REGION, service: str = SERVICE, secret: str | None = SECRET,
           public_key_pem: str | None = None, **kw: Any) -> None:
    auth = parse_authorization(req.header("authorization") or "")
    verify_signature(req, auth, secret=secret, public_key_pem=public_key_pem,
                     rsa_verifier=verify_rsa, now=now, max_skew=SKEW, provider=provider,
                     region=region, service=service, **kw)


def signed(method: str = "POST", url: str = "https://hub.example.vn/api/v1/docs?x=1",
           headers: dict[str, str] | None = None, body: bytes = b'{"a": 1}', *,
           algorithm: str = "TRUC4-HMAC-SHA256", secret: str = SECRET, now: datetime = NOW,
           **kw: Any) -> HttpRequest:
    """A TRUC4 request signed by our client, as the hub receives it."""
    given = {"Content-Type": "application/json"} if headers is None else headers
    body_hash = kw.pop("body_sha256", sha256(body))
    added = sign_request(method, url, given, body_hash, access_key=AK, secret=secret,
                         algorithm=algorithm, now=now, region=REGION, service=SERVICE,
                         rsa_signer=sign_rsa, **kw)
    return server_request(method, url, {**given, **added}, body)


def replace_header(req: HttpRequest, name: str, value: str) -> HttpRequest:
    headers = tuple((n, value if n.lower() == name.lower() else v) for n, v in req.headers)
    return dataclasses.replace(req, headers=headers)


def code_of(req: HttpRequest, **kw: Any) -> str:
    with pytest.raises(AuthError) as caught:
        verify(req, **kw)
    assert caught.value.status == 401
    return caught.value.code


# ---------------------------------------------------------------------------------------------
# The AWS Signature Version 4 test suite (AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1,
# service "service"). Requests are as in the suite: raw paths and queries, in the suite's
# convention that the path is not yet percent-encoded.

SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
SUITE_HEADERS = (("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"))
SuiteCase = tuple[str, str, str, tuple[tuple[str, str], ...], bytes, str]
SUITE: list[SuiteCase] = [
    ("get-vanilla", "GET", "/", (), b"",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", (), b"",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-order-key", "GET", "/?Param1=value2&Param1=Value1", (), b"",
     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
    ("get-vanilla-query-order-encoded", "GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
     (), b"", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
    ("get-vanilla-utf8-query", "GET", "/?ሴ=bar", (), b"",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-vanilla-query-unreserved", "GET",
     "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", (), b"",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-utf8", "GET", "/ሴ", (), b"",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-space", "GET", "/example space/", (), b"",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    ("get-slashes", "GET", "//example//", (), b"",
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
    ("get-relative-relative", "GET", "/example1/example2/../..", (), b"",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-slash-pointless-dot", "GET", "/./example", (), b"",
     "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
    ("get-special-character", "GET", "/example/$delete", (), b"",
     "a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27"),
    ("get-header-value-trim", "GET", "/",
     (("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')), b"",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("get-header-key-duplicate", "GET", "/",
     (("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")), b"",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-order", "GET", "/",
     tuple(("My-Header1", f"value{i}") for i in (4, 1, 3, 2)), b"",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    ("get-header-value-multiline", "GET", "/",
     (("My-Header1", "value1\n  value2\n     value3"),), b"",
     "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"),
    ("post-vanilla", "POST", "/", (), b"",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-vanilla-query", "POST", "/?Param1=value1", (), b"",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-header-value-case", "POST", "/", (("My-Header1", "VALUE1"),), b"",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-x-www-form-urlencoded", "POST", "/",
     (("Content-Type", "application/x-www-form-urlencoded"),), b"Param1=value1",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ("post-x-www-form-urlencoded-parameters", "POST", "/",
     (("Content-Type", "application/x-www-form-urlencoded; charset=utf8"),), b"Param1=value1",
     "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
]


@pytest.mark.parametrize("case", SUITE, ids=[case[0] for case in SUITE])
def test_aws_sigv4_suite(case: SuiteCase) -> None:
    _, method, target, extra, body, expected = case
    path, _, query = target.partition("?")
    headers = SUITE_HEADERS + extra
    req = HttpRequest(method, path, query, headers, sha256(body))
    names = sorted({n.lower() for n, _ in headers})
    to_sign = string_to_sign("AWS4-HMAC-SHA256", "20150830T123600Z",
                             "20150830/us-east-1/service/aws4_request",
                             canonical_request(req, names, AWS4))
    key = signing_key(SECRET, "20150830", "us-east-1", "service", provider=AWS4)
    assert hmac_signature(key, to_sign) == expected

    auth = (f"AWS4-HMAC-SHA256 Credential={AK}/20150830/us-east-1/service/aws4_request, "
            f"SignedHeaders={';'.join(names)}, Signature={expected}")
    verify(dataclasses.replace(req, headers=(*headers, ("Authorization", auth))),
           provider=STRICT_AWS4, now=SUITE_TIME, region="us-east-1", service="service")


def test_suite_canonical_forms() -> None:
    """Two intermediate results of the suite, so a failure points at the step that broke."""
    assert canonical_path("/example space/") == "/example%20space/"
    assert canonical_path("/a%20b/./c/../d//") == "/a%2520b/d/"  # on the wire: encoded twice
    assert canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1") == (
        "%E1%88%B4=Value1&Param=Value2&Param-3=Value3")
    assert canonical_query("b&a=&c=x+y&d=%2b&&e=%7e") == "a=&b=&c=x%20y&d=%2B&e=~"


# ---------------------------------------------------------------------------------------------
# botocore: signs, we verify; we sign, botocore must produce the same Authorization.

BOTO_TIME = datetime(2026, 3, 14, 9, 26, 53)  # botocore works in naive UTC
MATRIX: list[tuple[str, str, dict[str, str], bytes]] = [
    ("GET", "http://hub.example.vn/", {}, b""),
    ("GET", "https://hub.example.vn:8443/api/v1/docs/a%20b", {}, b""),
    ("GET", "http://hub.example.vn/api/v1/%E1%BB%87/~user/%7Ex", {}, b""),
    ("GET", "http://hub.example.vn/r/it's/(a)!*$&+,;=:@x", {}, b""),
    ("GET", "http://hub.example.vn/a/./b/../c//d/", {}, b""),
    ("GET", "http://hub.example.vn/q?b=2&a=1&a=0&flag&empty=", {}, b""),
    ("GET", "http://hub.example.vn/q?q=H%C3%A0%20N%E1%BB%99i&sym=%21%2A%27%28%29&t=~x", {}, b""),
    ("GET", "http://hub.example.vn/q?k=a%2Bb&l=a%3Db%26c&%E1%88%B4=1&Z=2", {}, b""),
    ("POST", "http://hub.example.vn/api/v1/docs?dry_run=true",
     {"Content-Type": "application/json", "x-TRUC-Trace": "  a   b\tc  ", "Accept": "*/*"},
     '{"tên": "Nguyễn Văn A"}'.encode()),
    ("PUT", "https://hub.example.vn/blobs/1", {"Content-Type": "application/octet-stream"},
     bytes(range(256)) * 4),
    ("POST", "http://127.0.0.1:8080/empty", {"X-Empty": ""}, b""),
    ("DELETE", "http://hub.example.vn/docs/1", {"User-Agent": "truc-cli/1.0"}, b""),
]


@pytest.fixture
def frozen_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *_a, **_k: BOTO_TIME)


def botocore_sign(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    SigV4Auth(Credentials(AK, SECRET), SERVICE, REGION).add_auth(request)
    return dict(request.headers.items())


def host_of(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.hostname}{port}"


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize(("method", "url", "headers", "body"), MATRIX)
@pytest.mark.parametrize("content_header", [False, True], ids=["no-content-header", "content"])
def test_botocore_signs_we_verify(method: str, url: str, headers: dict[str, str], body: bytes,
                                  content_header: bool) -> None:
    if content_header:
        headers = {**headers, "X-Amz-Content-SHA256": sha256(body)}
    sent = botocore_sign(method, url, headers, body)
    req = server_request(method, url, [("Host", host_of(url)), *sent.items()], body)
    verify(req, provider=STRICT_AWS4, now=NOW)


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize(("method", "url", "headers", "body"), MATRIX)
@pytest.mark.parametrize("content_header", [False, True], ids=["no-content-header", "content"])
def test_we_sign_like_botocore(method: str, url: str, headers: dict[str, str], body: bytes,
                               content_header: bool) -> None:
    boto_headers = {**headers, "X-Amz-Content-SHA256": sha256(body)} if content_header else headers
    expected = botocore_sign(method, url, boto_headers, body)
    ours = sign_request(method, url, headers, sha256(body), access_key=AK, secret=SECRET,
                        algorithm="AWS4-HMAC-SHA256", now=NOW, region=REGION, service=SERVICE,
                        provider=AWS4, send_content_sha256=content_header)
    assert ours["Authorization"] == expected["Authorization"]
    assert ours["X-Amz-Date"] == expected["X-Amz-Date"] == "20260314T092653Z"
    assert ours["Host"] == host_of(url)
    assert ("X-Amz-Content-Sha256" in ours) is content_header


# ---------------------------------------------------------------------------------------------
# TRUC4: the three schemes


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return generate_rsa_keypair(2048)


@pytest.mark.parametrize("algorithm", ["TRUC4-HMAC-SHA256", "TRUC4-HMAC-SHA1"])
def test_hmac_round_trip(algorithm: str) -> None:
    req = signed(algorithm=algorithm)
    assert req.header("x-truc-date") == "20260314T092653Z"
    assert req.header("x-truc-content-sha256") == sha256(b'{"a": 1}')
    auth = parse_authorization(req.header("authorization") or "")
    assert auth.scope == "20260314/vn-south-1/truc/truc4_request"
    assert auth.signed_headers == ("content-type", "host", "x-truc-content-sha256", "x-truc-date")
    assert len(auth.signature) == (40 if algorithm.endswith("SHA1") else 64)
    verify(req)


def test_hmac_sha1_is_sigv4_with_sha1() -> None:
    """The scheme's definition, spelled out independently of the module's helpers."""
    req = signed(algorithm="TRUC4-HMAC-SHA1")
    auth = parse_authorization(req.header("authorization") or "")
    canonical = canonical_request(req, auth.signed_headers)
    to_sign = (f"TRUC4-HMAC-SHA1\n20260314T092653Z\n{auth.scope}\n"
               f"{hashlib.sha256(canonical.encode()).hexdigest()}")
    key = f"TRUC4{SECRET}".encode()
    for part in ("20260314", REGION, SERVICE, "truc4_request"):
        key = hmac.new(key, part.encode(), "sha1").digest()
    assert auth.signature == hmac.new(key, to_sign.encode(), "sha1").hexdigest()


@pytest.mark.parametrize("algorithm", ["TRUC4-RSA-SHA256", "TRUC4-RSA-PSS-SHA256"])
def test_rsa_round_trip(algorithm: str, rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    req = signed(algorithm=algorithm, secret=private_pem)
    verify(req, secret=None, public_key_pem=public_pem)
    auth = parse_authorization(req.header("authorization") or "")
    assert len(auth.signature) == 512  # 2048-bit signature, hex


def test_rsa_wrong_key_or_padding_is_refused(rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    _, other_public = generate_rsa_keypair(2048)
    pkcs1 = signed(algorithm="TRUC4-RSA-SHA256", secret=private_pem)
    assert code_of(pkcs1, secret=None, public_key_pem=other_public) == "signature_mismatch"
    relabelled = replace_header(pkcs1, "authorization", (pkcs1.header("authorization") or "")
                                .replace("TRUC4-RSA-SHA256", "TRUC4-RSA-PSS-SHA256"))
    assert code_of(relabelled, secret=None, public_key_pem=public_pem) == "signature_mismatch"


def test_key_kind_must_match_the_scheme(rsa_pair: tuple[str, str]) -> None:
    assert code_of(signed(), secret=None, public_key_pem=rsa_pair[1]) == "unsupported_algorithm"
    rsa_req = signed(algorithm="TRUC4-RSA-SHA256", secret=rsa_pair[0])
    assert code_of(rsa_req, secret=SECRET) == "unsupported_algorithm"


def test_rsa_key_registration_check(rsa_pair: tuple[str, str]) -> None:
    assert check_rsa_public_key(rsa_pair[1]) == 2048
    _, small = generate_rsa_keypair(1024)
    with pytest.raises(ValueError, match="1024 bits is too small"):
        check_rsa_public_key(small)
    with pytest.raises(ValueError, match="not a PEM public key"):
        check_rsa_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValueError, match="not an RSA key"):
        check_rsa_public_key(ec_pem)


def test_rsa_primitives(rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    for pss in (False, True):
        signature = sign_rsa(private_pem, b"message", pss)
        assert verify_rsa(public_pem, b"message", signature, pss)
        assert not verify_rsa(public_pem, b"messagE", signature, pss)
        assert not verify_rsa(public_pem, b"message", signature, not pss)


# ---------------------------------------------------------------------------------------------
# Each failure code from one targeted tamper


def test_changed_body_with_content_header() -> None:
    req = signed()
    assert code_of(dataclasses.replace(req, payload_sha256=sha256(b"{}"))) == "payload_mismatch"


def test_changed_body_without_content_header() -> None:
    req = signed(send_content_sha256=False)
    assert code_of(dataclasses.replace(req, payload_sha256=sha256(b"{}"))) == "signature_mismatch"


def test_unsigned_payload_only_when_explicit_and_allowed() -> None:
    req = signed(body_sha256=UNSIGNED_PAYLOAD)
    assert req.header("x-truc-content-sha256") == UNSIGNED_PAYLOAD
    verify(dataclasses.replace(req, payload_sha256=sha256(b"anything")))
    assert code_of(req, allow_unsigned_payload=False) == "unsigned_payload_refused"


@pytest.mark.parametrize(("name", "tamper"), [
    ("query", lambda r: dataclasses.replace(r, query="x=2")),
    ("path", lambda r: dataclasses.replace(r, path="/api/v1/docz")),
    ("method", lambda r: dataclasses.replace(r, method="PUT")),
    ("header", lambda r: replace_header(r, "content-type", "text/plain")),
    ("host", lambda r: replace_header(r, "host", "evil.example")),
])
def test_changed_request_is_refused(name: str, tamper: Any) -> None:
    assert code_of(tamper(signed())) == "signature_mismatch", name


def test_wrong_secret() -> None:
    with pytest.raises(AuthError) as caught:
        verify(signed(), secret="not-the-secret")
    assert caught.value.code == "signature_mismatch"
    assert caught.value.extra["string_to_sign"].startswith("TRUC4-HMAC-SHA256\n20260314T092653Z")
    assert "\nhost:hub.example.vn\n" in caught.value.extra["canonical_request"]


@pytest.mark.parametrize("offset", [timedelta(minutes=6), -timedelta(minutes=6)],
                         ids=["client-ahead", "client-behind"])
def test_clock_skew(offset: timedelta) -> None:
    req = signed(now=NOW + offset)
    with pytest.raises(AuthError) as caught:
        verify(req)
    assert caught.value.code == "clock_skew"
    assert caught.value.extra["server_time"] == "2026-03-14T09:26:53+00:00"
    assert "2026-03-14T09:26:53+00:00" in caught.value.detail
    assert caught.value.extra["skew_seconds"] == offset.total_seconds()  # + means ahead
    assert caught.value.extra["max_skew_seconds"] == 300
    verify(signed(now=NOW + offset / 6 * 5))  # 5 minutes is still fine


def test_scope_must_match() -> None:
    midnight = datetime(2026, 3, 15, tzinfo=UTC)
    req = signed(now=midnight - timedelta(seconds=1))  # scope 20260314
    next_day = replace_header(req, "x-truc-date", "20260315T000001Z")
    assert code_of(next_day, now=midnight) == "credential_scope_mismatch"
    assert code_of(signed(), region="vn-north-1") == "credential_scope_mismatch"
    assert code_of(signed(), service="other") == "credential_scope_mismatch"


def test_host_date_and_content_headers_must_be_signed() -> None:
    req = signed()
    auth = req.header("authorization") or ""
    for name in ("host;", "x-truc-date", "x-truc-content-sha256;"):
        unsigned = replace_header(req, "authorization", auth.replace(name, "").replace(";,", ","))
        assert code_of(unsigned) == "unsigned_header", name


def test_missing_or_bad_date() -> None:
    req = signed()
    no_date = dataclasses.replace(req, headers=tuple(
        (n, v) for n, v in req.headers if n.lower() != "x-truc-date"))
    assert code_of(no_date) == "missing_date"
    assert code_of(replace_header(req, "x-truc-date", "2026-03-14T09:26:53Z")) == "missing_date"
    for impossible in ("20261314T092653Z", "20260314T092660Z", "20260230T092653Z"):
        assert code_of(replace_header(req, "x-truc-date", impossible)) == "missing_date"


def test_derived_key_is_cached_per_day_region_and_service() -> None:
    """The server remembers derived keys; a different day, secret or digest is another key,
    and a remembered key still refuses a request signed with the wrong secret."""
    cached_signing_key.cache_clear()
    verify(signed())
    verify(signed(now=NOW + timedelta(seconds=3)))
    assert cached_signing_key.cache_info().currsize == 1
    assert cached_signing_key(SECRET, "20260314", REGION, SERVICE, provider=TRUC4,
                              digest="sha256") == \
        signing_key(SECRET, "20260314", REGION, SERVICE)
    assert code_of(signed(secret="not-the-secret")) == "signature_mismatch"
    verify(signed(now=NOW + timedelta(days=1)), now=NOW + timedelta(days=1))
    verify(signed(algorithm="TRUC4-HMAC-SHA1"))
    assert cached_signing_key.cache_info().currsize == 4


@pytest.mark.parametrize("algorithm", ["TRUC4-HMAC-MD5", "AWS4-HMAC-SHA256", "TRUC4-RSA"])
def test_unknown_algorithm(algorithm: str) -> None:
    req = signed()
    auth = (req.header("authorization") or "").replace("TRUC4-HMAC-SHA256", algorithm)
    assert code_of(replace_header(req, "authorization", auth)) == "unsupported_algorithm"


GOOD = ("TRUC4-HMAC-SHA256 Credential=AK/20260314/vn-south-1/truc/truc4_request, "
        "SignedHeaders=host;x-truc-date, Signature=" + "ab" * 32)


@pytest.mark.parametrize("value", [
    "",
    "TRUC4-HMAC-SHA256",
    "Bearer eyJhbGciOi",
    GOOD.replace("Credential=AK/", "Credential="),
    GOOD.replace("/20260314/", "/2026-03-14/"),
    GOOD.replace(", Signature=" + "ab" * 32, ""),
    GOOD.replace("Signature=ab", "Signature=zz"),
    GOOD.replace("host;", "Host;"),
    GOOD.replace("host;", "host;host;"),
    GOOD + ", Signature=" + "ab" * 32,
    GOOD.replace("SignedHeaders", "Headers"),
])
def test_malformed_authorization(value: str) -> None:
    with pytest.raises(AuthError) as caught:
        parse_authorization(value)
    assert caught.value.code == "malformed_authorization"
    assert caught.value.detail.startswith("Malformed Authorization header: ")


def test_parse_authorization() -> None:
    auth = parse_authorization(GOOD.replace("Credential=AK/", "Credential=ak/with/slash/")
                               .replace(", ", ","))
    assert auth == Authorization("TRUC4-HMAC-SHA256", "ak/with/slash", "20260314", "vn-south-1",
                                 "truc", "truc4_request", ("host", "x-truc-date"), "ab" * 32)
    assert Scheme.RSA_PSS_SHA256.algorithm(AWS4) == "AWS4-RSA-PSS-SHA256"


def test_sign_request_wants_the_url_as_sent() -> None:
    with pytest.raises(ValueError, match="percent-encode"):
        signed(url="https://hub.example.vn/a b")
    with pytest.raises(ValueError, match="percent-encode"):
        signed(url="https://hub.example.vn/q?tên=1")
    with pytest.raises(ValueError, match="x-truc-date"):
        signed(headers={"X-Truc-Date": "20260314T092653Z"})


def test_as_sent_forms_only_when_the_provider_allows_them() -> None:
    """curl 7.x signs the query and path exactly as sent; SigV4 proper refuses that."""
    headers = (("Host", "h"), ("X-Truc-Date", "20260314T092653Z"))
    req = HttpRequest("GET", "/a%20b", "b=2&a=1", headers)
    names = ["host", "x-truc-date"]
    to_sign = string_to_sign("TRUC4-HMAC-SHA256", "20260314T092653Z",
                             "20260314/vn-south-1/truc/truc4_request",
                             canonical_request(req, names, path_as_sent=True, query_as_sent=True))
    signature = hmac_signature(signing_key(SECRET, "20260314", REGION, SERVICE), to_sign)
    auth = (f"TRUC4-HMAC-SHA256 Credential={AK}/20260314/vn-south-1/truc/truc4_request, "
            f"SignedHeaders=host;x-truc-date, Signature={signature}")
    req = dataclasses.replace(req, headers=(*req.headers, ("Authorization", auth)))
    verify(req)
    strict = dataclasses.replace(TRUC4, accept_as_sent=False)
    assert code_of(req, provider=strict) == "signature_mismatch"


def test_hub_stays_pure() -> None:
    code = "import sys, hub.auth; assert 'cryptography' not in sys.modules, 'impure'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# The real curl --aws-sigv4 against a recording server

CURL = shutil.which("curl")


def _curl_version() -> tuple[int, ...]:
    if CURL is None:
        return ()
    out = subprocess.run([CURL, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.match(r"curl (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else ()


def test_the_machine_has_a_curl_that_signs() -> None:
    """The curl tests below need --aws-sigv4 (7.75+); a missing curl fails, never skips."""
    assert _curl_version() >= (7, 75, 0), f"curl {_curl_version()} cannot --aws-sigv4"


def needs_curl(test: Any) -> Any:
    return test


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.path.encode("latin-1").decode("utf-8")  # http.server decodes as latin-1
        self.seen.append({"method": self.command, "target": target,
                          "headers": list(self.headers.items()), "body": body})
        self.send_response(204)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _record

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def curl(seen: list[dict[str, Any]], *args: str) -> HttpRequest:
    assert CURL is not None
    # -q first: ignore any ~/.curlrc
    subprocess.run([CURL, "-q", "-sS", "--fail", "-o", "/dev/null", "--aws-sigv4",
                    f"truc:truc:{REGION}:{SERVICE}", "--user", f"{AK}:{SECRET}", *args],
                   check=True, timeout=30)
    got = seen.pop()
    path, _, query = got["target"].partition("?")
    return HttpRequest(got["method"], path, query, tuple(got["headers"]), sha256(got["body"]))


def verify_now(req: HttpRequest) -> None:
    verify(req, now=datetime.now(UTC))


@needs_curl
def test_curl_get_with_query(recorder: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = recorder
    req = curl(seen, f"{base}/api/v1/docs?b=2&a=1&a=0&flag&empty=&sp=a%20b&plus=a+b"
                           "&u=%E1%BB%87&raw=ệ&res=%21%2A%27")
    assert (req.header("authorization") or "").startswith(f"TRUC4-HMAC-SHA256 Credential={AK}/")
    assert parse_authorization(req.header("authorization") or "").signed_headers == (
        "host", "x-truc-date")
    assert req.header("x-truc-content-sha256") is None  # curl never sends it for truc:truc
    verify_now(req)


@needs_curl
def test_curl_get_with_data_urlencode(recorder: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = recorder
    verify_now(curl(seen, "-G", f"{base}/search", "--data-urlencode", "q=Hà Nội & co",
                    "--data-urlencode", "z=1+1"))


@needs_curl
def test_curl_post_json(recorder: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = recorder
    req = curl(seen, f"{base}/api/v1/docs", "-H", "Content-Type: application/json",
               "-H", "X-Truc-Trace:   a   b  ", "-d", '{"tên": "Nguyễn Văn A"}')
    assert parse_authorization(req.header("authorization") or "").signed_headers == (
        "content-type", "host", "x-truc-date", "x-truc-trace")
    verify_now(req)
    assert code_of(dataclasses.replace(req, payload_sha256=EMPTY_SHA256),
                   now=datetime.now(UTC)) == "signature_mismatch"


@needs_curl
def test_curl_put_binary(recorder: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    base, seen = recorder
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 64)
    verify_now(curl(seen, "-X", "PUT", f"{base}/blobs/a%20b", "--data-binary", f"@{blob}"))


@needs_curl
def test_curl_upload_file_needs_the_content_header(
        recorder: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """``-T`` streams the file, and curl 7.x/8.x then signs the hash of an *empty* body."""
    base, seen = recorder
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01\xffbinary\n")
    plain = curl(seen, "-T", str(blob), f"{base}/up")
    assert code_of(plain, now=datetime.now(UTC)) == "signature_mismatch"
    digest = sha256(blob.read_bytes())
    verify_now(curl(seen, "-T", str(blob), f"{base}/up", "-H",
                    f"X-Truc-Content-Sha256: {digest}"))
    verify_now(curl(seen, "-T", str(blob), f"{base}/up", "-H",
                    f"X-Truc-Content-Sha256: {UNSIGNED_PAYLOAD}"))


# ---------------------------------------------------------------------------------------------
# Stock SigV4 libraries (issue 12): AWS4 names, botocore's query forms, curl's repeated date


def test_the_hub_takes_the_dialect_from_the_algorithm_name() -> None:
    assert provider_of("AWS4-HMAC-SHA256") is AWS4
    assert provider_of("AWS4-RSA-PSS-SHA256") is AWS4
    assert provider_of("TRUC4-HMAC-SHA256") is TRUC4
    assert provider_of("NOPE-HMAC-SHA256") is TRUC4
    with pytest.raises(AuthError, match="AWS4-HMAC-SHA256") as caught:
        scheme_of("MD5-X")
    assert caught.value.code == "unsupported_algorithm"


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize("url", [
    "https://hub.example.vn/v1/ops/agencies/000.00.11.H53/history?q=văn bản&from=2026-11-01",
    "https://hub.example.vn/v1/statistics?to=2026-11-30&from=2026-11-01&q=a b",
    "https://hub.example.vn/v1/x?q=van+ban&z=%2B1&a=x%26y",
])
def test_botocore_query_written_in_the_url_is_verified(url: str) -> None:
    """botocore signs the query of a URL as written (sorted, not re-encoded); its HTTP
    session then escapes spaces and accents: the hub finds the form botocore signed."""
    sent = botocore_sign("GET", url, {}, b"")
    wire = urlsplit(url)
    req = HttpRequest("GET", wire.path, _escaped(wire.query),
                      (("Host", host_of(url)), *sent.items()))
    verify(req, provider=AWS4, now=NOW)
    assert code_of(req, provider=STRICT_AWS4, now=NOW) == "signature_mismatch"


def _escaped(query: str) -> str:
    """What urllib3 puts on the wire for a query written with spaces and accents."""
    from urllib.parse import quote

    return quote(query, safe="&=+%!*'();:@,/?~-._")


def test_a_date_header_sent_twice_alike_counts_once() -> None:
    req = signed(method="GET", body=b"", headers={})
    date = req.header("x-truc-date")
    assert date is not None
    twice = dataclasses.replace(req, headers=(*req.headers, ("X-Truc-Date", date)))
    verify(twice)


def test_a_date_header_sent_twice_differently_says_so() -> None:
    req = signed(method="GET", body=b"", headers={})
    twice = dataclasses.replace(req, headers=(*req.headers, ("X-Truc-Date", "20260314T092654Z")))
    with pytest.raises(AuthError, match="more than once") as caught:
        verify(twice)
    assert caught.value.code == "missing_date"
