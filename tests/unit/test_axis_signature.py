"""The national axis's header signature, checked as docs/national-axis.md describes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.axis import signature
from hub.axis.signature import AxisRefused

NOW = datetime(2026, 11, 27, 0, 40, 44, tzinfo=UTC)  # 07:40:44 in Vietnam
SKEW = timedelta(minutes=5)


def request(fields: dict[str, str], secret: str = "s3cret") -> dict[str, str]:
    headers = {f"XroadVnpt-{k}": v for k, v in fields.items()}
    headers.update(signature.sign(fields, secret))
    return {k.lower(): v for k, v in headers.items()}


FIELDS = {"systemid": "TRUCAK", "servicetype": "eDoc", "messagetype": "edoc",
          "timestamp": "27112026T074044+0247", "Content-Type": "application/json"}


def check(headers: dict[str, str], secret: str = "s3cret") -> None:
    signature.check(signature.signed_part(headers), headers, secret, NOW, SKEW)


def test_a_good_signature_passes_whatever_the_order_of_names() -> None:
    check(request(FIELDS))
    check(request(dict(reversed(list(FIELDS.items())))))


def test_the_timestamp_is_vietnam_time_and_its_suffix_is_not_a_zone() -> None:
    assert signature.stamp(NOW).startswith("27112026T074044+")
    with pytest.raises(AxisRefused) as late:
        check(request({**FIELDS, "timestamp": "27112026T084044+0247"}))
    assert late.value.code == "axis_clock_skew"


@pytest.mark.parametrize("tamper", ["secret", "header", "listing", "missing"])
def test_tampering_is_refused(tamper: str) -> None:
    headers = request(FIELDS)
    if tamper == "secret":
        with pytest.raises(AxisRefused):
            check(headers, "other")
        return
    if tamper == "header":
        headers["xroadvnpt-messagetype"] = "status"
    elif tamper == "listing":
        headers["xroadvnpt-sign-header-key"] = "systemid;timestamp"
    else:
        del headers["xroadvnpt-hash-header"]
    with pytest.raises(AxisRefused):
        check(headers)


def test_the_signed_string_is_verified_as_received() -> None:
    """Spaces and key order the client chose are kept: the hub never rebuilds it."""
    headers = request(FIELDS)
    spaced = json.dumps(json.loads(headers["xroadvnpt-sign-header"]), indent=1)
    headers["xroadvnpt-sign-header"] = spaced
    with pytest.raises(AxisRefused):
        check(headers)  # the hash was over the compact string
