"""The national axis's header signature (``XroadVnpt-*``), checked as the axis does.

A caller lists the signed headers in ``XroadVnpt-sign-header-key`` (``;``-separated short
names), sends them as a compact JSON object in ``XroadVnpt-sign-header`` (keys are the full
``XroadVnpt-…`` names, in a Java hash map's order: not fixed) and the lowercase hex
HMAC-SHA256 of that string under its secret in ``XroadVnpt-hash-header``. So: verify the
HMAC over the string exactly as received, then check that each signed field equals the
header actually sent, that the listed names are the signed ones, and that the timestamp is
fresh. Never rebuild the string. Pure: the caller finds the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hub.errors import TrucError

PREFIX = "xroadvnpt-"
VIETNAM = timezone(timedelta(hours=7))
_STAMP = re.compile(r"(\d{8}T\d{6})(?:[+-]\d{1,4})?")
"""``27112026T074044+0247``: local time, then milliseconds dressed as an offset."""
REQUIRED = ("systemid", "timestamp")


class AxisRefused(TrucError):
    code = "axis_signature"
    status = 401


@dataclass(frozen=True)
class Signed:
    system_id: str
    sign_header: str
    hash_header: str


def signed_part(headers: Mapping[str, str]) -> Signed:
    """The caller's id and signature from lower-cased headers, or ``AxisRefused``."""
    missing = [n for n in ("systemid", "sign-header", "hash-header", "sign-header-key")
               if not headers.get(PREFIX + n)]
    if missing:
        raise AxisRefused(f"missing headers: {', '.join('XroadVnpt-' + n for n in missing)}")
    return Signed(headers[PREFIX + "systemid"], headers[PREFIX + "sign-header"],
                  headers[PREFIX + "hash-header"].lower())


def check(signed: Signed, headers: Mapping[str, str], secret: str, now: datetime,
          skew: timedelta) -> None:
    """Raises ``AxisRefused`` unless the signature holds for ``headers`` (lower-cased)."""
    expected = hmac.new(secret.encode(), signed.sign_header.encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signed.hash_header):
        raise AxisRefused("XroadVnpt-hash-header is not the HMAC-SHA256 of "
                          "XroadVnpt-sign-header under this system's secret")
    try:
        fields = json.loads(signed.sign_header)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise AxisRefused("XroadVnpt-sign-header is not a JSON object")
    named = {PREFIX + n.strip().lower()
             for n in headers[PREFIX + "sign-header-key"].split(";") if n.strip()}
    given = {str(k).lower(): v for k, v in fields.items()}
    if set(given) != named or not {PREFIX + n for n in REQUIRED} <= named:
        raise AxisRefused("XroadVnpt-sign-header-key must list exactly the signed headers, "
                          "systemid and timestamp among them")
    for name, value in given.items():
        if headers.get(name) != value:
            raise AxisRefused(f"the signed {name} differs from the header sent")
    check_fresh(given[PREFIX + "timestamp"], now, skew)


def check_fresh(stamp: object, now: datetime, skew: timedelta) -> None:
    match = _STAMP.fullmatch(stamp) if isinstance(stamp, str) else None
    if match is None:
        raise AxisRefused("XroadVnpt-timestamp is not ddMMyyyy'T'HHmmss")
    try:
        at = datetime.strptime(match.group(1), "%d%m%YT%H%M%S").replace(tzinfo=VIETNAM)
    except ValueError:
        raise AxisRefused("XroadVnpt-timestamp is not a real date") from None
    if abs(at - now) > skew:
        raise AxisRefused("XroadVnpt-timestamp is too far from the hub's time "
                          "(read as Vietnam time, UTC+7)", code="axis_clock_skew")


def sign(headers: Mapping[str, str], secret: str) -> dict[str, str]:
    """The three signature headers for ``headers`` (short names -> values), as a client
    makes them: for tests and for a Truc acting as the axis's client."""
    body = json.dumps({f"XroadVnpt-{k}": v for k, v in headers.items()},
                      separators=(",", ":"))
    return {"XroadVnpt-sign-header-key": ";".join(headers), "XroadVnpt-sign-header": body,
            "XroadVnpt-hash-header": hmac.new(secret.encode(), body.encode(),
                                              hashlib.sha256).hexdigest()}


def stamp(now: datetime) -> str:
    """A timestamp as the SDK writes it (Vietnam local time, milliseconds as suffix)."""
    local = now.astimezone(VIETNAM)
    return local.strftime("%d%m%YT%H%M%S") + f"+{local.microsecond // 1000:04d}"
