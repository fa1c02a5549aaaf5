"""Request signatures: how an app proves, on every call, that it holds its key.

Three schemes share one canonical request and one string to sign, so a client library
implements the request part once and only swaps the last step:

    TRUC4-HMAC-SHA256     AWS Signature Version 4, byte for byte, with ``TRUC4`` in place of
                          ``AWS4``: ``curl --aws-sigv4 "truc:truc:REGION:SERVICE"`` can call the hub
    TRUC4-HMAC-SHA1       the same, with the key derivation and the final HMAC in SHA-1
    TRUC4-RSA-SHA256      the same string to sign, RSASSA-PKCS1-v1_5 with SHA-256
    TRUC4-RSA-PSS-SHA256  the same string to sign, RSASSA-PSS (MGF1-SHA256, salt = 32 bytes)

The names (``TRUC4``, ``X-Truc-Date``, ``truc4_request``) come from a :class:`Provider`, so the
very same code configured with :data:`AWS4` is checked against botocore and the AWS test suite.

This module is pure: RSA arithmetic is given to it as an :class:`RsaVerifier` (the adapter is
``infra.rsa_keys``). See docs/signing.md for the wire format and for what curl really signs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cached_property, lru_cache
from typing import Literal, Protocol
from urllib.parse import quote, unquote_to_bytes, urlsplit

from hub.errors import TrucError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

Digest = Literal["sha256", "sha1"]


class AuthError(TrucError):
    """The caller is not authenticated; ``code`` says which rule failed, so clients can react."""

    code = "unauthorized"
    status = 401


@dataclass(frozen=True)
class Provider:
    """The names that distinguish a SigV4 dialect; everything else is the shared algorithm.

    ``accept_as_sent``: also accept a canonical request built from the path and/or query
    exactly as sent, because curl before 8.3 (query) and before 8.9 (path) signs them
    without canonicalising (see docs/signing.md). Each such form is a fixed function of
    the received bytes, so accepting it never lets a signature cover a different request
    than the one the client meant.
    """

    name: str = "TRUC4"
    date_header: str = "x-truc-date"
    content_header: str = "x-truc-content-sha256"
    terminator: str = "truc4_request"
    accept_as_sent: bool = True


TRUC4 = Provider()
AWS4 = Provider("AWS4", "x-amz-date", "x-amz-content-sha256", "aws4_request")
PROVIDERS = (TRUC4, AWS4)
"""What the hub accepts: its own names, and the standard AWS4 ones, so that a stock SigV4
library (botocore's ``SigV4Auth``, the AWS SDKs' signers, the ``aws4`` npm package) signs
calls with no change. The keys, scope (region, service) and every rule are the same."""


def provider_of(algorithm: str) -> Provider:
    """The dialect an algorithm name belongs to (``AWS4-…`` or, by default, ``TRUC4-…``)."""
    for provider in PROVIDERS:
        if algorithm.startswith(f"{provider.name}-"):
            return provider
    return TRUC4


class Scheme(Enum):
    """The signing schemes; the algorithm name on the wire is ``<provider>-<value>``."""

    HMAC_SHA256 = "HMAC-SHA256"
    HMAC_SHA1 = "HMAC-SHA1"
    RSA_SHA256 = "RSA-SHA256"
    RSA_PSS_SHA256 = "RSA-PSS-SHA256"

    @property
    def is_rsa(self) -> bool:
        return self in (Scheme.RSA_SHA256, Scheme.RSA_PSS_SHA256)

    @property
    def digest(self) -> Digest:
        return "sha1" if self is Scheme.HMAC_SHA1 else "sha256"

    def algorithm(self, provider: Provider = TRUC4) -> str:
        """The name written in the Authorization header and in the string to sign."""
        return f"{provider.name}-{self.value}"


class RsaVerifier(Protocol):
    """Checks an RSA signature; given to the domain so that it never imports a crypto library."""

    def __call__(self, public_key_pem: str, message: bytes, signature: bytes, pss: bool) -> bool:
        ...


class RsaSigner(Protocol):
    """Makes an RSA signature (client side), given for the same reason as :class:`RsaVerifier`."""

    def __call__(self, private_key_pem: str, message: bytes, pss: bool) -> bytes:
        ...


@dataclass(frozen=True)
class HttpRequest:
    """What the hub received, before any decoding, because the signature covers those bytes.

    ``path`` and ``query`` are the request target split at ``?``, still percent-encoded
    (raw bytes above 0x7F decoded as UTF-8). ``headers`` are in arrival order, duplicates kept.
    ``payload_sha256`` is the hex SHA-256 of the body the server read.
    """

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    payload_sha256: str = EMPTY_SHA256

    def header(self, name: str) -> str | None:
        """All values of a header joined by ``,`` (as SigV4 does), or None when absent."""
        return self._by_name.get(name.lower())

    def with_payload(self, payload_sha256: str) -> HttpRequest:
        """The same request with another payload hash, keeping the header lookup already
        built (rebuilding it is ≈ 5% of a small request's CPU)."""
        copy = replace(self, payload_sha256=payload_sha256)
        if "_by_name" in self.__dict__:
            copy.__dict__["_by_name"] = self.__dict__["_by_name"]
        return copy

    def values(self, name: str) -> list[str]:
        """Every value of a header, in arrival order."""
        name = name.lower()
        return [_trimall(v) for n, v in self.headers if n.strip().lower() == name]

    def without_repeats(self) -> HttpRequest:
        """The same request with each header line sent twice identically kept once: what
        curl signs when it sends a date header both from ``-H`` and from its own signer."""
        seen: set[tuple[str, str]] = set()
        kept = []
        for n, v in self.headers:
            line = (n.strip().lower(), _trimall(v))
            if line not in seen:
                seen.add(line)
                kept.append((n, v))
        return HttpRequest(self.method, self.path, self.query, tuple(kept), self.payload_sha256)

    @cached_property
    def _by_name(self) -> dict[str, str]:
        """Every header once, by lower-case name: verifying a request looks up each signed
        header once per canonical form, and scanning the whole list each time showed in
        the hub's profile."""
        values: dict[str, list[str]] = {}
        for n, v in self.headers:
            values.setdefault(n.strip().lower(), []).append(_trimall(v))
        return {n: ",".join(v) for n, v in values.items()}


@dataclass(frozen=True)
class Authorization:
    """A parsed ``Authorization`` header: what the client claims, not yet verified."""

    algorithm: str
    access_key: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


# ---------------------------------------------------------------------------------------------
# Parsing

_AUTH_SHAPE = "'<ALGORITHM> Credential=<access-key>/<yyyymmdd>/<region>/<service>/<terminator>, " \
    "SignedHeaders=<h1;h2;...>, Signature=<hex>'"
_ALGORITHM = re.compile(r"[A-Z0-9][A-Z0-9-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_DATE = re.compile(r"[0-9]{8}")
_TIMESTAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_PARAMS = ("Credential", "SignedHeaders", "Signature")


def parse_authorization(value: str) -> Authorization:
    """Split an Authorization header into its parts, naming the first thing that is wrong.

    A precise message matters here: a malformed header is the most common integration bug,
    and the client developer only sees what the hub says.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if not _ALGORITHM.fullmatch(algorithm) or not rest.strip():
        raise _malformed(f"expected {_AUTH_SHAPE}")
    params = _parse_params(rest)
    access_key, date, region, service, terminator = _parse_credential(params["Credential"])
    return Authorization(
        algorithm=algorithm,
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        terminator=terminator,
        signed_headers=_parse_signed_headers(params["SignedHeaders"]),
        signature=_parse_signature(params["Signature"]),
    )


def _parse_params(rest: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in rest.split(","):
        key, eq, val = item.strip().partition("=")
        if not eq or key not in _PARAMS:
            raise _malformed(f"unexpected {item.strip()!r}; expected {_AUTH_SHAPE}")
        if key in params:
            raise _malformed(f"{key} is given twice")
        params[key] = val.strip()
    missing = [p for p in _PARAMS if p not in params]
    if missing:
        raise _malformed(f"missing {', '.join(missing)}; expected {_AUTH_SHAPE}")
    return params


def _parse_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise _malformed(
            f"Credential={credential!r} must be "
            "<access-key>/<yyyymmdd>/<region>/<service>/<terminator>")
    if not _DATE.fullmatch(parts[1]):
        raise _malformed(f"the date in Credential must be yyyymmdd, got {parts[1]!r}")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _parse_signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    for name in names:
        if not _HEADER_NAME.fullmatch(name):
            raise _malformed(f"SignedHeaders={value!r}: {name!r} is not a lower-case header name")
    if len(set(names)) != len(names):
        raise _malformed(f"SignedHeaders={value!r} lists a header twice; send each signed "
                         "header once")
    return names


def _parse_signature(value: str) -> str:
    if not _HEX.fullmatch(value):
        raise _malformed("Signature must be hex-encoded")
    return value.lower()


def _malformed(detail: str) -> AuthError:
    return AuthError(f"Malformed Authorization header: {detail}.",
                     code="malformed_authorization")


# ---------------------------------------------------------------------------------------------
# The canonical request, the string to sign, the key


def canonical_request(
    req: HttpRequest,
    signed_headers: Sequence[str],
    provider: Provider = TRUC4,
    *,
    path_as_sent: bool = False,
    query_as_sent: QueryForm = False,
) -> str:
    """SigV4's canonical request. The ``*_as_sent`` flags give the forms old curl signs;
    ``query_as_sent="sorted"`` or ``"written"`` the forms botocore signs for a URL that
    carries its query (pairs sorted, not re-encoded: ``q=van+ban`` stays so).

    Header lines follow the order of ``signed_headers`` as the client sent it (sorted by
    every conforming client; curl 7.x sorts ``name:value`` strings, which differs only for
    names that prefix one another). A signed header that is absent counts as empty, as curl
    signs ``-H 'Accept:'`` (a header it then removes).
    """
    lines = [
        req.method.upper(),
        req.path if path_as_sent else canonical_path(req.path),
        _query_form(req.query, query_as_sent),
        "".join(f"{name}:{req.header(name) or ''}\n" for name in signed_headers),
        ";".join(signed_headers),
        _signed_payload_hash(req, provider),
    ]
    return "\n".join(lines)


def canonical_path(raw_path: str) -> str:
    """The path as AWS signs it for every service but S3: dot segments and empty segments
    removed, then percent-encoded once more (so ``%20`` on the wire is signed as ``%2520``)."""
    return quote(_remove_dot_segments(raw_path) or "/", safe="/~")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, plus collapsing ``//`` as AWS does (mirrors botocore exactly)."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    if not path:
        return ""
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


QueryForm = bool | Literal["sorted", "written"]


def _query_form(raw_query: str, as_sent: QueryForm) -> str:
    """``sorted``: the pairs as sent, sorted; ``written``: the same with the characters an
    HTTP library escapes on its own (space, non-ASCII, ``"<>`` …) unescaped, which is what
    botocore signs for a URL given with ``?q=văn bản`` in it."""
    if as_sent in ("sorted", "written"):
        if not raw_query:
            return ""
        unescape = _unescape_unsafe if as_sent == "written" else str
        pairs = sorted((unescape(key), unescape(value)) for key, _, value in
                       (part.partition("=") for part in raw_query.split("&")))
        return "&".join(f"{key}={value}" for key, value in pairs)
    return raw_query if as_sent else canonical_query(raw_query)


_ESCAPED_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_UNSAFE_ASCII = frozenset(b' "<>`{}|\\^')


def _unescape_unsafe(component: str) -> str:
    """Undo only the escapes a client library adds for characters a URL cannot carry;
    ``%26``, ``%3D``, ``%25``, ``%2B`` stay as they are, so no pair boundary moves."""
    def one_run(match: re.Match[str]) -> str:
        text = match.group(0)
        raw = bytes.fromhex(text.replace("%", ""))
        out, pending = [], bytearray()
        for index, byte in enumerate(raw):
            if byte >= 0x80:
                pending.append(byte)
                continue
            out.append(_decoded(pending, text, index - len(pending)))
            pending.clear()
            out.append(chr(byte) if byte in _UNSAFE_ASCII else text[3 * index:3 * index + 3])
        out.append(_decoded(pending, text, len(raw) - len(pending)))
        return "".join(out)

    return _ESCAPED_RUN.sub(one_run, component)


def _decoded(pending: bytearray, text: str, start: int) -> str:
    """Non-ASCII bytes as UTF-8 text, or kept escaped when they are not UTF-8."""
    try:
        return bytes(pending).decode("utf-8")
    except UnicodeDecodeError:
        return text[3 * start:3 * (start + len(pending))]


def canonical_query(raw_query: str) -> str:
    """Pairs decoded then re-encoded (RFC 3986 unreserved kept), sorted by key then value.

    ``+`` is read as a space, as the hub's web layer will read it, so a signature never
    covers a different value than the one the handler sees; a literal plus is ``%2B``.
    A key without ``=`` signs as ``key=``; empty pairs (``a=1&&b=2``) are skipped.
    """
    pairs = sorted(
        (_reencode(key), _reencode(value))
        for key, _, value in (part.partition("=") for part in raw_query.split("&") if part)
    )
    return "&".join(f"{key}={value}" for key, value in pairs)


def _reencode(component: str) -> str:
    return quote(unquote_to_bytes(component.replace("+", "%20")), safe="-_.~")


def _signed_payload_hash(req: HttpRequest, provider: Provider) -> str:
    """The content header when present (it may say UNSIGNED-PAYLOAD), else the body's hash."""
    claimed = req.header(provider.content_header)
    return claimed if claimed is not None else req.payload_sha256


def _trimall(value: str) -> str:
    """SigV4's Trimall: outer whitespace dropped, inner runs collapsed to one space."""
    return " ".join(re.split(r"[ \t\r\n\v\f]+", value.strip(" \t\r\n\v\f")))


def string_to_sign(algorithm: str, timestamp: str, scope: str, canonical: str) -> str:
    """The four lines every scheme signs. The canonical request is hashed with SHA-256 in all
    schemes, HMAC-SHA1 included: SHA-1 is only used where it is still sound (inside HMAC)."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{algorithm}\n{timestamp}\n{scope}\n{digest}"


def signing_key(
    secret: str,
    date: str,
    region: str,
    service: str,
    *,
    provider: Provider = TRUC4,
    digest: Digest = "sha256",
) -> bytes:
    """SigV4's derived key: a key valid for one day, region and service, so a leaked derived
    key (or one cached by a server) is worth little."""
    key = f"{provider.name}{secret}".encode()
    for part in (date, region, service, provider.terminator):
        key = hmac.new(key, part.encode("utf-8"), digest).digest()
    return key


@lru_cache(maxsize=1024)
def cached_signing_key(secret: str, date: str, region: str, service: str, *,
                       provider: Provider, digest: Digest) -> bytes:
    """:func:`signing_key`, remembered: it is four HMACs, the same for every request an app
    signs in one day, and was computed anew for each. SigV4 designed the derived key to be
    cached (it is good for one day, region and service only). Keys are still looked up and
    checked (revoked, expired) before any signature is verified, so a cached derived key
    never outlives its key's validity."""
    return signing_key(secret, date, region, service, provider=provider, digest=digest)


def hmac_signature(key: bytes, to_sign: str, digest: Digest = "sha256") -> str:
    """The final step of the HMAC schemes: hex HMAC of the string to sign with the derived key."""
    return hmac.new(key, to_sign.encode("utf-8"), digest).hexdigest()


def scheme_of(algorithm: str, provider: Provider = TRUC4) -> Scheme:
    """The scheme named by an algorithm, or ``unsupported_algorithm`` listing the valid ones."""
    for scheme in Scheme:
        if algorithm == scheme.algorithm(provider):
            return scheme
    also = [p for p in PROVIDERS if p is not provider] if provider is TRUC4 else []
    known = ", ".join(s.algorithm(p) for p in (provider, *also) for s in Scheme)
    raise AuthError(f"Unsupported signing algorithm {algorithm!r}; use one of {known}.",
                    code="unsupported_algorithm")


# ---------------------------------------------------------------------------------------------
# Server side


def verify_signature(
    req: HttpRequest,
    auth: Authorization,
    *,
    secret: str | None,
    public_key_pem: str | None,
    rsa_verifier: RsaVerifier | None,
    now: datetime,
    max_skew: timedelta,
    provider: Provider = TRUC4,
    region: str,
    service: str,
    allow_unsigned_payload: bool = True,
) -> None:
    """Accept the request or raise :class:`AuthError` naming the first rule it breaks.

    The cheap, explainable checks (date, scope, which headers are signed, body hash) come
    before the signature so that a client learns *what* to fix, not just that it failed.
    """
    scheme = scheme_of(auth.algorithm, provider)
    matches = _matcher(scheme, auth, provider, secret=secret, public_key_pem=public_key_pem,
                       rsa_verifier=rsa_verifier)
    timestamp = _request_timestamp(req, provider)
    _check_skew(timestamp, now, max_skew)
    _check_scope(auth, timestamp, provider, region, service)
    _check_signed_headers(req, auth, provider)
    _check_payload(req, provider, allow_unsigned_payload)
    # lazily: the older curl forms are only built when SigV4's own form does not match
    candidates = (string_to_sign(auth.algorithm, timestamp, auth.scope, c)
                  for c in _canonical_candidates(req, auth.signed_headers, provider))
    if any(matches(to_sign) for to_sign in candidates):
        return
    canonical = canonical_request(req, auth.signed_headers, provider)
    raise AuthError(
        "The signature does not match. Compare your canonical request and string to sign "
        "with the hub's (in this error's extra); check the secret key and the signed headers.",
        code="signature_mismatch",
        canonical_request=canonical,
        string_to_sign=string_to_sign(auth.algorithm, timestamp, auth.scope, canonical),
    )


def check_before_body(
    req: HttpRequest,
    auth: Authorization,
    *,
    secret: str | None,
    public_key_pem: str | None,
    now: datetime,
    max_skew: timedelta,
    provider: Provider = TRUC4,
    region: str,
    service: str,
) -> None:
    """What :func:`verify_signature` checks before the signature itself, from the headers
    alone: for a request that sends no content header, whose signature covers the hash of a
    body not read yet. The hub refuses such a request here (key kind, date, skew, scope,
    signed headers) before reading a byte of its body, and verifies it in full after."""
    scheme = scheme_of(auth.algorithm, provider)
    if (public_key_pem is None) if scheme.is_rsa else (secret is None):
        _matcher(scheme, auth, provider, secret=secret, public_key_pem=public_key_pem,
                 rsa_verifier=None)  # raises unsupported_algorithm, naming the right scheme
    timestamp = _request_timestamp(req, provider)
    _check_skew(timestamp, now, max_skew)
    _check_scope(auth, timestamp, provider, region, service)
    _check_signed_headers(req, auth, provider)


def _matcher(
    scheme: Scheme,
    auth: Authorization,
    provider: Provider,
    *,
    secret: str | None,
    public_key_pem: str | None,
    rsa_verifier: RsaVerifier | None,
) -> Callable[[str], bool]:
    """How to check a string to sign against the claimed signature, given the app's key."""
    if scheme.is_rsa:
        if public_key_pem is None or rsa_verifier is None:
            raise AuthError(f"Access key {auth.access_key} has no RSA public key; sign with "
                            "the HMAC scheme.", code="unsupported_algorithm")
        pem, verifier = public_key_pem, rsa_verifier
        signature = bytes.fromhex(auth.signature)
        pss = scheme is Scheme.RSA_PSS_SHA256
        return lambda to_sign: verifier(pem, to_sign.encode("utf-8"), signature, pss)
    if secret is None:
        raise AuthError(f"Access key {auth.access_key} is an RSA key; sign with the RSA "
                        "scheme.", code="unsupported_algorithm")
    key = cached_signing_key(secret, auth.date, auth.region, auth.service, provider=provider,
                             digest=scheme.digest)
    claimed = auth.signature.encode()
    return lambda to_sign: hmac.compare_digest(
        hmac_signature(key, to_sign, scheme.digest).encode(), claimed)


def _request_timestamp(req: HttpRequest, provider: Provider) -> str:
    """The signing time; a date header sent twice with the same value counts once (curl
    before 8.x adds its own copy of an ``X-Truc-Date`` given with ``-H``)."""
    values = set(req.values(provider.date_header))
    if len(values) > 1:
        raise AuthError(f"Header {_display_name(provider.date_header)} is sent more than once "
                        f"with different values ({', '.join(sorted(values))}); send it once. "
                        "(curl --aws-sigv4 adds it itself: do not also pass it with -H.)",
                        code="missing_date")
    value = values.pop() if values else None
    if value is None or not _TIMESTAMP.fullmatch(value):
        got = "it is missing" if value is None else f"got {value!r}"
        raise AuthError(f"Header {_display_name(provider.date_header)} must give the signing "
                        f"time as yyyymmddThhmmssZ (UTC); {got}.", code="missing_date")
    return value


def _parse_timestamp(timestamp: str) -> datetime:
    """``yyyymmddThhmmssZ`` (already matched by ``_TIMESTAMP``) as an aware UTC datetime.

    By slicing rather than ``datetime.strptime`` (≈ 1% of the hub's busy time: it takes a
    lock and checks the locale on each call). A timestamp with digits in the
    right places but no such time (month 13, second 60) is refused as ``missing_date``.
    """
    try:
        return datetime(int(timestamp[0:4]), int(timestamp[4:6]), int(timestamp[6:8]),
                        int(timestamp[9:11]), int(timestamp[11:13]), int(timestamp[13:15]),
                        tzinfo=UTC)
    except ValueError as exc:
        raise AuthError(f"The signing time {timestamp!r} is not a valid time ({exc}); give "
                        "it as yyyymmddThhmmssZ (UTC).", code="missing_date") from exc


def _check_skew(timestamp: str, now: datetime, max_skew: timedelta) -> None:
    """Bounds replay: a captured request is only good for ``max_skew`` either way."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    request_time = _parse_timestamp(timestamp)
    server_time = now.astimezone(UTC).replace(microsecond=0)
    if abs(request_time - server_time) > max_skew:
        raise AuthError(
            f"Request time {request_time.isoformat()} is more than {max_skew} away from the "
            f"hub's time {server_time.isoformat()}; synchronise the client's clock (NTP) and "
            "sign again.",
            code="clock_skew",
            server_time=server_time.isoformat(),
            request_time=request_time.isoformat(),
            skew_seconds=(request_time - server_time).total_seconds(),
            max_skew_seconds=max_skew.total_seconds(),
        )


def _check_scope(
    auth: Authorization, timestamp: str, provider: Provider, region: str, service: str
) -> None:
    expected = f"{timestamp[:8]}/{region}/{service}/{provider.terminator}"
    if auth.scope != expected:
        raise AuthError(f"Credential scope {auth.scope!r} should be {expected!r} (the date "
                        f"comes from {_display_name(provider.date_header)}).",
                        code="credential_scope_mismatch")


SIGNED_WHEN_SENT = ("idempotency-key", "content-type")
"""Headers that change what a request means: which package a retry names, how its body is
read. Sent unsigned, a man in the middle could swap them under a valid signature."""
CURL_FORM_TYPE = "application/x-www-form-urlencoded"
"""What ``curl -d`` adds, never signing it: no route reads such a body, so it may pass."""


def _check_signed_headers(req: HttpRequest, auth: Authorization, provider: Provider) -> None:
    required = ["host", provider.date_header]
    if req.header(provider.content_header) is not None:
        required.append(provider.content_header)
    for name in SIGNED_WHEN_SENT:
        value = req.header(name)
        if value is not None and not (name == "content-type" and value.strip().lower()
                                      == CURL_FORM_TYPE):
            required.append(name)
    unsigned = [name for name in required if name not in auth.signed_headers]
    if unsigned:
        raise AuthError(f"These headers must be signed (listed in SignedHeaders): "
                        f"{', '.join(unsigned)}.", code="unsigned_header")


def _check_payload(req: HttpRequest, provider: Provider, allow_unsigned: bool) -> None:
    """The content header is a claim about the body: it must be the body's hash, or say
    explicitly that the body is not signed (streamed uploads, whose chunks carry hashes)."""
    claimed = req.header(provider.content_header)
    if claimed is None:
        return
    header = _display_name(provider.content_header)
    if claimed == UNSIGNED_PAYLOAD:
        if not allow_unsigned:
            raise AuthError(f"{header}: {UNSIGNED_PAYLOAD} is not accepted here (only for "
                            "chunk uploads, whose chunks carry their own SHA-256); sign the "
                            "body's SHA-256.", code="unsigned_payload_refused")
        return
    if not hmac.compare_digest(claimed.lower().encode(), req.payload_sha256.lower().encode()):
        raise AuthError(f"{header} is {claimed!r} but the body's SHA-256 is "
                        f"{req.payload_sha256}.", code="payload_mismatch")


def _canonical_candidates(
    req: HttpRequest, signed_headers: Sequence[str], provider: Provider
) -> Iterator[str]:
    """SigV4's form first; then, when allowed, the forms of curl <8.9 and <8.3, if different."""
    forms: list[tuple[bool, QueryForm]] = [(False, False)]
    if provider.accept_as_sent:
        forms += [(False, "sorted"), (False, "written"), (True, False), (True, True)]
    requests = [req]
    deduplicated = req.without_repeats()
    if deduplicated.headers != req.headers:
        requests.append(deduplicated)
    seen: set[str] = set()
    for one in requests:
        for path_as_sent, query_as_sent in forms:
            canonical = canonical_request(one, signed_headers, provider,
                                          path_as_sent=path_as_sent,
                                          query_as_sent=query_as_sent)
            if canonical not in seen:
                seen.add(canonical)
                yield canonical


def _display_name(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


# ---------------------------------------------------------------------------------------------
# Client side

_NOT_SIGNED = frozenset({
    "authorization", "baggage", "connection", "expect", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "traceparent", "tracestate", "trailer", "transfer-encoding",
    "upgrade", "user-agent", "x-amzn-trace-id",
})
_ON_THE_WIRE = re.compile(r"[\x21-\x7e]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body_sha256: str,
    *,
    access_key: str,
    secret: str,
    algorithm: str,
    now: datetime,
    region: str,
    service: str,
    provider: Provider = TRUC4,
    rsa_signer: RsaSigner | None = None,
    send_content_sha256: bool = True,
) -> dict[str, str]:
    """The headers to add so the hub accepts the request: Authorization, the date header, the
    content header (unless disabled; always when ``body_sha256`` is UNSIGNED-PAYLOAD) and Host
    when ``headers`` lacks it.

    ``secret`` is the shared secret for HMAC schemes and the PEM private key for RSA ones.
    ``url`` must be exactly what goes on the wire (percent-encoded), or ValueError: a client
    that encodes after signing would sign one path and send another.
    Every given header is signed except hop-by-hop ones and User-Agent (as botocore does).
    """
    scheme = scheme_of(algorithm, provider)
    parts = urlsplit(url)
    if not (_ON_THE_WIRE.fullmatch(parts.path) and _ON_THE_WIRE.fullmatch(parts.query)):
        raise ValueError(f"percent-encode the URL before signing it: {url!r}")
    timestamp = now.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    given = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    added = _added_headers(given, _host(url), timestamp, body_sha256=body_sha256,
                           provider=provider, send_content_sha256=send_content_sha256)
    all_headers = tuple(given + list(added.items()))
    signed = sorted({n.strip().lower() for n, _ in all_headers} - _NOT_SIGNED)
    req = HttpRequest(method, parts.path or "/", parts.query, all_headers, body_sha256)
    scope = f"{timestamp[:8]}/{region}/{service}/{provider.terminator}"
    to_sign = string_to_sign(algorithm, timestamp, scope,
                             canonical_request(req, signed, provider))
    signature = _sign(scheme, to_sign, secret, scope, provider=provider, rsa_signer=rsa_signer)
    added["Authorization"] = (f"{algorithm} Credential={access_key}/{scope}, "
                              f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return added


def _added_headers(
    given: list[tuple[str, str]],
    host: str,
    timestamp: str,
    *,
    body_sha256: str,
    provider: Provider,
    send_content_sha256: bool,
) -> dict[str, str]:
    names = {n.strip().lower() for n, _ in given}
    added: dict[str, str] = {}
    if "host" not in names:
        added["Host"] = host
    added[_display_name(provider.date_header)] = timestamp
    if send_content_sha256 or body_sha256 == UNSIGNED_PAYLOAD:
        added[_display_name(provider.content_header)] = body_sha256
    clash = names & {provider.date_header, provider.content_header}
    if clash:
        raise ValueError(f"sign_request sets {', '.join(sorted(clash))} itself; remove it")
    return added


def _host(url: str) -> str:
    """The Host header an HTTP client sends: lower-case host, port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _sign(scheme: Scheme, to_sign: str, secret: str, scope: str, *, provider: Provider,
          rsa_signer: RsaSigner | None) -> str:
    if scheme.is_rsa:
        if rsa_signer is None:
            raise ValueError(f"{scheme.algorithm(provider)} needs an rsa_signer")
        return rsa_signer(secret, to_sign.encode("utf-8"), scheme is Scheme.RSA_PSS_SHA256).hex()
    date, region, service, _ = scope.split("/")
    key = cached_signing_key(secret, date, region, service, provider=provider,
                             digest=scheme.digest)
    return hmac_signature(key, to_sign, scheme.digest)
