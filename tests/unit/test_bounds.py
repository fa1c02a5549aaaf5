"""Bounds where values enter (issue 10: findings 1, 2, 7, 9, 11): every value a caller gives
is refused with a 400 naming its field before an event carries it, and the codec refuses
what could not be read back whatever slipped past."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.client import NotText, check_text
from api.routes.packages import byte_range
from hub import bounds
from hub import events as ev
from hub.auth.authenticate import check_host
from hub.auth.signing import (
    TRUC4,
    AuthError,
    HttpRequest,
    _check_signed_headers,
    parse_authorization,
)
from hub.clock import ManualClock
from hub.deadlines import actions
from hub.deadlines.open import OpenDelivery, open_row
from hub.deadlines.rules import offline_too_long
from hub.errors import Conflict, InvalidRequest, RangeNotSatisfiable
from hub.packages import decisions as decide
from hub.packages.model import evolve
from hub.registry import decisions as registry
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.model import Registry
from infra.avro import EventCodec, UnrecordableEvent
from tests.factories import agency_registered, chunk_stored
from tests.unit.test_deadlines import SEALED_AT, apply, ctx, sealed
from tests.unit.test_packages import (
    CTX,
    DEST,
    DIGEST,
    LIMITS,
    OTHER,
    SOURCE,
    delivered,
    requested,
    send,
)
from tests.unit.test_packages import world as package_world

LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(minutes=-1)))
"""The deadline of finding 1: a valid datetime that is past year 9999 in UTC."""


def refusal(call: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        call()
    assert refused.value.status == 400
    return refused.value


# --- the rules themselves --------------------------------------------------------------


@pytest.mark.parametrize("value", [
    LATE, datetime(1999, 12, 31, 23, 0, tzinfo=UTC),
    datetime(2200, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),  # 2201 in UTC
    datetime(2026, 1, 1),  # naive
])
def test_instants_are_aware_and_within_the_years(value: datetime) -> None:
    assert refusal(lambda: bounds.check_instant(value, "when")).extra["field"] == "when"


def test_instants_come_back_in_utc() -> None:
    ict = datetime(2026, 12, 1, 17, 0, tzinfo=timezone(timedelta(hours=7)))
    moved = bounds.check_instant(ict, "when")
    assert (moved, moved.tzinfo) == (ict, UTC)


def test_deadlines_are_ahead_but_not_too_far() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    far = datetime(2099, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=7)))
    assert bounds.check_deadline(far, now) == far
    for bad in (now, now + bounds.MAX_DEADLINE_AHEAD + timedelta(seconds=1)):
        assert refusal(lambda bad=bad: bounds.check_deadline(bad, now)).code == "invalid_deadline"


@pytest.mark.parametrize("value", [10**17, 10**30, -1, 1.5, True, "5", 2**63])
def test_integers_are_whole_and_within_their_limit(value: Any) -> None:
    got = refusal(lambda: bounds.check_int(value, "n", 0, bounds.MAX_OFFLINE_WAIT_SECONDS))
    assert got.extra["field"] == "n"


@pytest.mark.parametrize("value", ["C\udcf4ng", "a\x00b", "a\nb", "\u0085", "", "   ", "x" * 501])
def test_single_line_text_is_valid_unicode_without_controls(value: str) -> None:
    assert refusal(lambda: bounds.check_text(value, "title", 500)).extra["field"] == "title"


def test_text_is_stripped_and_nfc_and_notes_may_have_lines() -> None:
    decomposed = "Co\u0302ng va\u0306n"  # ô and ă as base letter + combining mark
    assert bounds.check_text(f"  {decomposed} ", "title", 500) == "Công văn"
    assert bounds.check_text("dòng 1\ndòng 2\tx", "note", 50, multiline=True) == \
        "dòng 1\ndòng 2\tx"
    assert refusal(lambda: bounds.check_text("a\x07", "note", 50, multiline=True))


# --- finding 1: deadlines on seal and extend -----------------------------------------------


def test_a_seal_deadline_past_year_9999_in_utc_is_refused_naming_deadline() -> None:
    _, _, pkg = requested()
    got = refusal(lambda: decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=LATE,
                                      offline_wait_seconds=None))
    assert (got.code, got.extra["field"]) == ("invalid_policy", "deadline")


def test_a_seal_deadline_is_recorded_in_utc() -> None:
    _, _, pkg = requested()
    ict = CTX.now.astimezone(timezone(timedelta(hours=7))) + timedelta(days=1)
    seal = decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=ict, offline_wait_seconds=None)
    assert isinstance(seal, ev.PackageSealed)
    assert seal.deadline == ict and seal.deadline is not None and seal.deadline.tzinfo is UTC


def test_an_extension_past_year_9999_in_utc_is_refused_naming_deadline() -> None:
    _, callers, pkg = sealed()
    clock = ManualClock(SEALED_AT + timedelta(hours=1))
    got = refusal(lambda: actions.extend(ctx(clock), pkg, callers[SOURCE], DEST, LATE))
    assert (got.code, got.extra["field"]) == ("invalid_deadline", "deadline")


# --- finding 2: the offline wait, and a watchdog that never overflows ----------------------


@pytest.mark.parametrize("wait", [10**17, 10**30, -1, 1.5])
def test_a_huge_negative_or_fractional_offline_wait_is_refused(wait: Any) -> None:
    _, _, pkg = requested()
    got = refusal(lambda: decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None,
                                      offline_wait_seconds=wait))
    assert (got.code, got.extra["field"]) == ("invalid_policy", "offline_wait_seconds")


@pytest.mark.parametrize("stored", [10**17, 10**30, 2**63 - 1])
def test_the_watchdog_compares_any_stored_wait_without_overflow(stored: int) -> None:
    """Waits recorded before the bound (10^17 s) are read and simply never due."""
    _, _, pkg = sealed(deadline=None, wait=60)
    delivery = next(iter(pkg.deliveries.values()))
    body = {**dict(open_row(pkg, delivery).body), "offline_wait_seconds": stored}
    waiting = OpenDelivery.from_row(body)
    assert not offline_too_long(waiting, None, SEALED_AT + timedelta(days=3650))


def test_an_unreadable_wait_in_a_row_reads_as_no_wait() -> None:
    _, _, pkg = sealed(deadline=None, wait=60)
    delivery = next(iter(pkg.deliveries.values()))
    body = {**dict(open_row(pkg, delivery).body), "offline_wait_seconds": "1e17"}
    assert OpenDelivery.from_row(body).offline_wait_seconds is None


# --- finding 7: lookalike agency codes -----------------------------------------------------


@pytest.mark.parametrize("code", [
    "000.00.\uff11\uff11.H53",          # fullwidth digits
    "000.00.\u0661\u0661.H53",          # Arabic-Indic digits
    "000.00.\u06f1\u06f1.H53",          # extended Arabic-Indic digits
    "000.00.11.H\u0665\u0663",
    "000.00.11.\u0131\u0665\u0663",     # dotless i upper-cases to I
    "000.00.11.\u0131\u0035\u0033",
    "000.00.11.H53\n.x",
])
def test_only_ascii_digits_and_letters_make_an_agency_code(code: str) -> None:
    with pytest.raises(InvalidAgencyCode):
        AgencyCode.parse(code)


def test_a_lookalike_code_does_not_register_a_new_agency() -> None:
    reg = Registry()
    reg.apply(registry.register_agency(reg, CTX, "000.00.11.H53", "Sở A", "d"))
    with pytest.raises(InvalidAgencyCode):
        registry.register_agency(reg, CTX, "000.00.\uff11\uff11.H53", "Sở A giả", "d")
    assert str(AgencyCode.parse(" 000.00.11.h53 ")) == "000.00.11.H53"


# --- finding 9: surrogates, huge integers --------------------------------------------------


def test_a_title_with_a_lone_surrogate_is_refused_naming_title() -> None:
    reg, callers = package_world()
    got = refusal(lambda: decide.request_package(reg, callers[SOURCE], CTX,
                                                 send(title="C\udcf4ng"), LIMITS))
    assert got.extra["field"] == "title"


@pytest.mark.parametrize(("change", "field"), [
    ({"protocol": "truc/1 \x00"}, "protocol"), ({"idempotency_key": "a b"}, "idempotency_key"),
    ({"idempotency_key": "k" * 201}, "idempotency_key"), ({"size": 2**70}, "size"),
    ({"sha256": DIGEST + "\n"}, None),
])
def test_every_field_of_a_send_is_bounded(change: dict[str, Any], field: str | None) -> None:
    reg, callers = package_world()
    got = refusal(lambda: decide.request_package(reg, callers[SOURCE], CTX, send(**change),
                                                 LIMITS))
    assert got.extra.get("field") == field


def test_a_title_is_recorded_nfc_and_a_retry_in_nfd_is_the_same_request() -> None:
    reg, callers = package_world()
    requested_, _ = decide.request_package(reg, callers[SOURCE], CTX,
                                           send(title="Co\u0302ng va\u0306n"), LIMITS)
    assert requested_.title == "Công văn"
    earlier = evolve(None, requested_)
    assert earlier is not None
    decide.check_same_request(earlier, send(title="Co\u0302ng va\u0306n"))
    decide.check_same_request(earlier, send(title="Công văn"))


def test_a_status_note_with_a_lone_surrogate_is_refused_naming_note() -> None:
    callers, pkg, _ = delivered()
    got = refusal(lambda: decide.report_status(CTX, pkg, callers[DEST], "03",
                                               note="C\udcf4ng"))
    assert got.extra["field"] == "note"


@pytest.mark.parametrize("hours", [4.76e16, float("nan"), float("inf"), -1, 10**30])
def test_a_rotation_overlap_is_a_finite_number_of_hours_up_to_a_year(hours: float) -> None:
    assert refusal(lambda: registry.overlap_of(hours)).extra["field"] == "overlap_hours"


def test_names_reasons_and_grants_are_bounded() -> None:
    reg = Registry()
    assert refusal(lambda: registry.register_agency(
        reg, CTX, "000.00.11.H53", "S\udcf4", "d")).extra["field"] == "name"
    assert refusal(lambda: registry.parse_grants([], [], ["PDF!"])).code == "invalid_grant"
    assert refusal(lambda: registry.parse_grants([], [], ["pdf"] * 1001)).code == "invalid_grant"


# --- finding 11: statuses on a withdrawn delivery ------------------------------------------


def test_a_redirected_destination_can_no_longer_report_a_status() -> None:
    reg, callers, pkg = sealed()
    clock = ManualClock(SEALED_AT + timedelta(hours=1))
    moved = actions.redirect(ctx(clock), reg, pkg, callers[SOURCE], from_code=DEST,
                             to_code=OTHER)
    after = apply(pkg, moved)
    with pytest.raises(Conflict) as refused:
        decide.report_status(ctx(clock), after, callers[DEST], "03")
    assert (refused.value.status, refused.value.code) == (409, "delivery_closed")
    decide.report_status(ctx(clock), after, callers[OTHER], "03")  # the new one may


def test_a_recalled_destination_can_no_longer_report_a_status() -> None:
    _, callers, pkg = sealed()
    clock = ManualClock(SEALED_AT + timedelta(hours=1))
    (recalled,) = actions.recall(ctx(clock), pkg, callers[SOURCE], DEST, "sai địa chỉ")
    after = apply(pkg, recalled)
    with pytest.raises(Conflict) as refused:
        decide.report_status(ctx(clock), after, callers[DEST], "01")
    assert refused.value.code == "delivery_closed"


# --- signed headers and the Host -------------------------------------------------------------


def _signed(signed: str, headers: dict[str, str]) -> tuple[HttpRequest, Any]:
    auth = parse_authorization(
        "TRUC4-HMAC-SHA256 Credential=AK/20261127/vn/truc/truc4_request, "
        f"SignedHeaders={signed}, Signature={'0' * 64}")
    req = HttpRequest("POST", "/v1/packages", "", tuple(headers.items()), "e3b0")
    return req, auth


@pytest.mark.parametrize(("header", "value"), [
    ("Idempotency-Key", "ho-so-7"), ("Content-Type", "application/json"),
])
def test_idempotency_key_and_content_type_must_be_signed_when_sent(header: str,
                                                                   value: str) -> None:
    req, auth = _signed("host;x-truc-date", {"Host": "hub", header: value})
    with pytest.raises(AuthError) as refused:
        _check_signed_headers(req, auth, TRUC4)
    assert refused.value.code == "unsigned_header" and header.lower() in refused.value.detail
    signed, auth = _signed(f"{header.lower()};host;x-truc-date", {"Host": "hub", header: value})
    _check_signed_headers(signed, auth, TRUC4)


def test_curl_s_own_unsigned_form_content_type_passes() -> None:
    req, auth = _signed("host;x-truc-date",
                        {"Host": "hub", "Content-Type": "application/x-www-form-urlencoded"})
    _check_signed_headers(req, auth, TRUC4)


def test_the_host_is_checked_only_when_the_hub_knows_its_names() -> None:
    req = HttpRequest("GET", "/v1/whoami", "", (("Host", "Staging.Example.vn:8443"),), "")
    check_host(req, frozenset())
    check_host(req, frozenset({"staging.example.vn"}))
    check_host(req, frozenset({"staging.example.vn:8443"}))
    with pytest.raises(AuthError) as refused:
        check_host(req, frozenset({"hub.example.vn"}))
    assert refused.value.code == "wrong_host"


# --- Range ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-", (0, 9)), ("bytes=2-4", (2, 4)), ("bytes=-3", (7, 9)), ("bytes=-30", (0, 9)),
    ("bytes=5-99", (5, 9)),
])
def test_one_range_is_served(header: str, expected: tuple[int, int]) -> None:
    assert byte_range(header, 10) == expected


@pytest.mark.parametrize("header", [
    "bytes=-0", "bytes=5-2", "bytes=10-", "bytes=99999999999999999999999-",
    "bytes=" + "9" * 5000 + "-",
])
def test_a_range_that_selects_nothing_is_416(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 10)


@pytest.mark.parametrize("header", [
    "bytes=-", "bytes=0-1,3-4", "bytes=\u0661-", "items=0-1", "bytes=0-1\nx",
])
def test_a_range_that_is_not_one_byte_range_is_400(header: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        byte_range(header, 10)
    assert refused.value.code == "invalid_range"


# --- the client refuses what is not text before sending -------------------------------------


def test_the_client_names_a_field_that_is_not_utf8_text() -> None:
    with pytest.raises(NotText, match="title"):
        check_text({"recipients": ["000.00.12.H53"], "title": "C\udcf4ng"})
    check_text({"title": "Công văn", "n": 1, "x": None})


# --- the codec's last wall ---------------------------------------------------------------------


def test_the_codec_refuses_what_it_could_not_read_back() -> None:
    codec = EventCodec()
    late = dataclasses.replace(chunk_stored("p", 0), occurred_at=LATE)
    with pytest.raises(UnrecordableEvent) as refused:
        codec.checked(late)
    assert (refused.value.status, refused.value.extra["field"]) == (400, "occurred_at")
    with pytest.raises(UnrecordableEvent) as refused:
        codec.checked(agency_registered(name="C\udcf4ng"))
    assert refused.value.extra["field"] == "name"


_ZONES = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))


@settings(max_examples=300, deadline=None)
@given(when=st.datetimes(timezones=_ZONES), index=st.integers(min_value=-(2**70),
                                                               max_value=2**70),
       text=st.text(alphabet=st.characters(codec=None), max_size=20))
def test_whatever_the_codec_accepts_reads_back(when: datetime, index: int, text: str) -> None:
    """Either refused as ``UnrecordableEvent`` (a 400), or decoded to the same event."""
    codec = _CODEC
    event = dataclasses.replace(chunk_stored(text, index), occurred_at=when)
    try:
        data, back = codec.checked(event)
    except UnrecordableEvent:
        return
    assert codec.decode(data) == back
    assert (back.package_id, back.index) == (text, index)  # type: ignore[attr-defined]
    assert abs(back.occurred_at - when) < timedelta(milliseconds=1)


_CODEC = EventCodec()
