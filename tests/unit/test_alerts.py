"""Alerts to people: which are due, whom to tell, what each attempt records — pure, with a
clock moved by hand; and the policy as a registry action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub import events as ev
from hub.alerts.configure import PolicyRequest, set_policy
from hub.alerts.policy import AlertPolicy
from hub.alerts.rules import (
    EXPIRED,
    FAILED,
    GAVE_UP,
    OFFLINE,
    SENT,
    UNFETCHED,
    Attempt,
    Expiry,
    Sight,
    due,
    outcome,
    sends_due,
    state,
)
from hub.alerts.view import ALERTS_PROJECTOR, read_alerts
from hub.clock import ManualClock
from hub.deadlines.open import OpenDelivery
from hub.deadlines.rules import Presence
from hub.errors import InvalidRequest, NotFound
from hub.ports import Row
from hub.registry.decisions import Context
from hub.registry.model import Registry
from hub.registry.webhook_targets import TargetPolicy, WebhookRefused
from tests import factories

SET_AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
DEST, SOURCE = "agency-dest", "agency-source"


def policy(agency_id: str = DEST, *, unfetched: int | None = 3600,
           expired: int | None = 0, offline: int | None = 7200,
           emails: tuple[str, ...] = ("vanthu@stttt.gov.vn",),
           webhooks: tuple[str, ...] = ("https://hooks.example.vn/truc",)) -> AlertPolicy:
    return AlertPolicy(agency_id, emails, webhooks, unfetched, expired, offline, SET_AT)


def delivery(planned_at: datetime, *, fetched: bool = False, generation: int = 0,
             agency_id: str = DEST) -> OpenDelivery:
    return OpenDelivery("pkg-1", agency_id, "000.00.11.H53", "normal", planned_at, None, None,
                        generation, fetched)


def test_a_delivery_waiting_past_the_threshold_alerts_its_destination_once() -> None:
    clock = ManualClock(SET_AT + timedelta(minutes=10))
    waiting = delivery(SET_AT + timedelta(minutes=5))
    policies = {DEST: policy()}
    assert due(policies, Sight(deliveries=[waiting]), set(), clock.now()) == []
    clock.advance(timedelta(minutes=54, seconds=59))
    assert due(policies, Sight(deliveries=[waiting]), set(), clock.now()) == []
    clock.advance(timedelta(seconds=1))
    (alert,) = due(policies, Sight(deliveries=[waiting]), set(), clock.now())
    assert (alert.kind, alert.agency_id, alert.package_id) == (UNFETCHED, DEST, "pkg-1")
    assert alert.event_id == alert.alert_id
    assert alert.contacts == ["mailto:vanthu@stttt.gov.vn", "https://hooks.example.vn/truc"]
    clock.advance(timedelta(hours=5))
    again = due(policies, Sight(deliveries=[waiting]), set(), clock.now())
    assert [a.alert_id for a in again] == [alert.alert_id]  # the same alert, whenever decided
    assert due(policies, Sight(deliveries=[waiting]), {alert.alert_id}, clock.now()) == []


def test_no_alert_for_a_fetched_delivery_an_agency_without_policy_or_contacts() -> None:
    now = SET_AT + timedelta(days=1)
    assert due({DEST: policy()}, Sight(deliveries=[delivery(SET_AT, fetched=True)]), set(),
               now) == []
    assert due({SOURCE: policy(SOURCE)}, Sight(deliveries=[delivery(SET_AT)]), set(),
               now) == []
    silent = {DEST: policy(emails=(), webhooks=())}
    assert due(silent, Sight(deliveries=[delivery(SET_AT)]), set(), now) == []
    off = {DEST: policy(unfetched=None)}
    assert due(off, Sight(deliveries=[delivery(SET_AT)]), set(), now) == []


def test_a_reopened_delivery_alerts_again() -> None:
    now = SET_AT + timedelta(days=1)
    first = due({DEST: policy()}, Sight(deliveries=[delivery(SET_AT)]), set(), now)
    second = due({DEST: policy()}, Sight(deliveries=[delivery(SET_AT, generation=1)]), set(),
                 now)
    assert first[0].alert_id != second[0].alert_id


def test_an_expiry_alerts_source_and_destination_by_their_own_policies() -> None:
    expiry = Expiry("pkg-1", DEST, SOURCE, SET_AT + timedelta(hours=1), "exp-1", "deadline")
    policies = {DEST: policy(), SOURCE: policy(SOURCE, expired=600)}
    now = SET_AT + timedelta(hours=1, minutes=5)
    (alert,) = due(policies, Sight(expiries=[expiry]), set(), now)
    assert (alert.kind, alert.agency_id) == (EXPIRED, DEST)
    later = due(policies, Sight(expiries=[expiry]), set(), now + timedelta(minutes=5))
    assert sorted(a.agency_id for a in later) == sorted([SOURCE, DEST])
    assert "deadline" in alert.detail


def test_an_expiry_before_the_policy_was_set_is_not_replayed() -> None:
    old = Expiry("pkg-1", DEST, SOURCE, SET_AT - timedelta(seconds=1), "exp-0", "deadline")
    assert due({DEST: policy()}, Sight(expiries=[old]), set(), SET_AT + timedelta(days=1)) == []


def test_offline_too_long_alerts_once_per_spell() -> None:
    policies = {DEST: policy()}
    gone = Presence(False, SET_AT + timedelta(hours=1))
    at = SET_AT + timedelta(hours=2, minutes=59)
    assert due(policies, Sight(presence={DEST: gone}), set(), at) == []
    (alert,) = due(policies, Sight(presence={DEST: gone}, codes={DEST: "000.00.11.H53"}),
                   set(), at + timedelta(minutes=1))
    assert alert.kind == OFFLINE and "000.00.11.H53" in alert.detail
    assert due(policies, Sight(presence={DEST: Presence(True, at)}), set(),
               at + timedelta(hours=9)) == []
    again = Presence(False, SET_AT + timedelta(hours=5))
    (next_spell,) = due(policies, Sight(presence={DEST: again}), set(),
                        SET_AT + timedelta(hours=8))
    assert next_spell.alert_id != alert.alert_id


def test_never_seen_online_counts_from_when_the_policy_was_set() -> None:
    policies = {DEST: policy()}
    assert due(policies, Sight(presence={}), set(), SET_AT + timedelta(hours=1)) == []
    (alert,) = due(policies, Sight(presence={}), set(), SET_AT + timedelta(hours=2))
    assert alert.since == SET_AT


def _alert(now: datetime) -> ev.AlertRaised:
    (found,) = due({DEST: policy()}, Sight(deliveries=[delivery(SET_AT)]), set(), now)
    return found


def test_each_contact_is_sent_once_and_retried_with_backoff_until_given_up() -> None:
    clock = ManualClock(SET_AT + timedelta(hours=2))
    alert = _alert(clock.now())
    mail, hook = alert.contacts
    first = sends_due([(alert, {})], clock.now())
    assert [(s.contact, s.attempt) for s in first] == [(mail, 1), (hook, 1)]
    sent = outcome(first[0], None, clock.now(), first_delay=timedelta(seconds=30), attempts=3)
    failed = outcome(first[1], "connection refused", clock.now(),
                     first_delay=timedelta(seconds=30), attempts=3)
    assert (sent.outcome, failed.outcome) == (SENT, FAILED)
    assert failed.next_attempt_at == clock.now() + timedelta(seconds=30)
    attempts = {mail: Attempt(SENT, 1), hook: Attempt(FAILED, 1, failed.next_attempt_at)}
    assert state(alert.contacts, attempts) == FAILED
    assert sends_due([(alert, attempts)], clock.now()) == []
    clock.advance(timedelta(seconds=30))
    (retry,) = sends_due([(alert, attempts)], clock.now())
    assert (retry.contact, retry.attempt) == (hook, 2)
    second = outcome(retry, "timeout", clock.now(), first_delay=timedelta(seconds=30),
                     attempts=3)
    assert second.next_attempt_at == clock.now() + timedelta(seconds=60)
    (last,) = sends_due([(alert, {mail: Attempt(SENT, 1), hook: Attempt(FAILED, 2)})],
                        clock.now())
    third = outcome(last, "timeout", clock.now(), first_delay=timedelta(seconds=30), attempts=3)
    assert third.outcome == GAVE_UP and third.next_attempt_at is None
    done = {mail: Attempt(SENT, 1), hook: Attempt(GAVE_UP, 3)}
    assert sends_due([(alert, done)], clock.now() + timedelta(days=1)) == []
    assert state(alert.contacts, done) == GAVE_UP
    assert state(alert.contacts, {mail: Attempt(SENT, 1), hook: Attempt(SENT, 2)}) == SENT
    assert state(alert.contacts, {}) == "raised"
    # the same attempt recorded twice is the same event
    assert outcome(first[0], None, clock.now(), first_delay=timedelta(seconds=30),
                   attempts=3).event_id == sent.event_id


def test_the_retry_delay_is_capped() -> None:
    alert = _alert(SET_AT + timedelta(hours=2))
    send = sends_due([(alert, {alert.contacts[0]: Attempt(FAILED, 20)})], SET_AT + timedelta(
        days=1))[0]
    failed = outcome(send, "down", SET_AT, first_delay=timedelta(seconds=30), attempts=99)
    assert failed.next_attempt_at == SET_AT + timedelta(hours=1)


def test_the_view_reads_back_alerts_with_each_contacts_last_attempt() -> None:
    now = SET_AT + timedelta(hours=2)
    alert = _alert(now)
    send = sends_due([(alert, {})], now)
    rows: dict[object, Row] = {}
    for event in (alert, outcome(send[0], None, now, first_delay=timedelta(seconds=1),
                                 attempts=3),
                  outcome(send[1], "refused", now, first_delay=timedelta(seconds=1),
                          attempts=3)):
        for row in ALERTS_PROJECTOR.project(event).upserts:
            rows[row.ref] = row
    ((read, attempts),) = read_alerts(rows.values())
    assert read == alert
    assert attempts[alert.contacts[0]].outcome == SENT
    assert attempts[alert.contacts[1]] == Attempt(FAILED, 1, now + timedelta(seconds=1))


def test_an_expired_delivery_is_kept_for_the_sweep() -> None:
    expired = ev.DeliveryExpired(**factories.envelope("hub:watchdog"), package_id="p",
                                 destination_agency_id=DEST, reason="deadline")
    (row,) = ALERTS_PROJECTOR.project(expired).upserts
    assert row.body["expiry_id"] == expired.event_id


def _registry() -> tuple[Registry, str]:
    reg = Registry()
    registered = factories.agency_registered("000.00.11.H53")
    reg.apply(registered)
    return reg, registered.agency_id


def test_setting_a_policy_is_a_registry_event_folded_by_every_node() -> None:
    reg, agency_id = _registry()
    ctx = Context("operator-1", SET_AT, "corr")
    event = set_policy(reg, ctx, "000.00.11.H53", PolicyRequest(
        emails=["vanthu@stttt.gov.vn", "vanthu@stttt.gov.vn"],
        webhooks=["https://hooks.example.vn/truc"], unfetched_after_seconds=4 * 3600,
        expired_after_seconds=0), TargetPolicy())
    assert event.emails == ["vanthu@stttt.gov.vn"] and event.agency_id == agency_id
    reg.apply(event)
    folded = reg.alerts[agency_id]
    assert folded.active and folded.unfetched_after == 4 * 3600 and folded.offline_after is None
    reg.apply(set_policy(reg, ctx, "000.00.11.H53", PolicyRequest(), TargetPolicy()))
    assert not reg.alerts[agency_id].active


@pytest.mark.parametrize("request_", [
    PolicyRequest(emails=["not-an-address"]),
    PolicyRequest(emails=["a@b.vn\nBcc: x@y.vn"]),
    PolicyRequest(emails=[f"a{i}@b.vn" for i in range(11)]),
    PolicyRequest(unfetched_after_seconds=-1),
    PolicyRequest(offline_after_seconds=10**12),
])
def test_bad_contacts_or_thresholds_are_refused(request_: PolicyRequest) -> None:
    reg, _ = _registry()
    with pytest.raises(InvalidRequest):
        set_policy(reg, Context("op", SET_AT, "c"), "000.00.11.H53", request_, TargetPolicy())


def test_a_webhook_must_pass_the_target_rule_and_the_agency_must_exist() -> None:
    reg, _ = _registry()
    ctx = Context("op", SET_AT, "c")
    with pytest.raises(WebhookRefused):
        set_policy(reg, ctx, "000.00.11.H53",
                   PolicyRequest(webhooks=["https://127.0.0.1/hook"]), TargetPolicy())
    with pytest.raises(NotFound):
        set_policy(reg, ctx, "000.00.99.H53", PolicyRequest(), TargetPolicy())
