"""The forwarding rules (``hub.zones.forwarding``): what the forwarded send says, and which
events bring the peer's delivery back to the source, each once."""

from __future__ import annotations

from datetime import timedelta

from hub import events as ev
from hub.packages.model import DeliveryState, Package, evolve
from hub.zones import forwarding as rules
from hub.zones.peers import peer_id
from tests.unit.test_packages import DIGEST, NOW

CODE = "000.00.12.H29"


def planned(trace: tuple[str, ...] = ()) -> Package:
    requested = ev.PackageRequested(
        event_id="r", occurred_at=NOW, actor="app", correlation_id="c", package_id="p",
        source_agency_id="s", source_agency_code="000.00.11.H53", source_app_id="app",
        recipients=[CODE], title="Công văn", priority="urgent", data_type="pdf",
        protocol="truc/1", declared_size=10, declared_sha256=DIGEST,
        recipient_agency_ids=[peer_id(CODE)], trace=list(trace))
    pkg = evolve(None, requested)
    for event in (
        ev.PackageSealed(event_id="s", occurred_at=NOW, actor="a", correlation_id="c",
                         package_id="p", size=10, sha256=DIGEST, offline_wait_seconds=60),
        ev.DeliveryPlanned(event_id="d", occurred_at=NOW, actor="a", correlation_id="c",
                           package_id="p", destination_agency_id=peer_id(CODE),
                           destination_code=CODE, priority="urgent"),
    ):
        pkg = evolve(pkg, event)
    assert pkg is not None
    return pkg


def fold(pkg: Package, events: list[ev.Event]) -> Package:
    for event in events:
        after = evolve(pkg, event)
        assert after is not None
        pkg = after
    return pkg


def test_the_forwarded_send_is_idempotent_and_carries_the_trace() -> None:
    forward = rules.forward_of(planned(("hub-x",)), CODE, "hub-a")
    assert forward.trace == ["hub-x", "hub-a"]
    assert forward.idempotency_key == rules.forward_of(planned(), CODE, "hub-a"
                                                       ).idempotency_key
    assert (forward.recipients, forward.priority, forward.sha256, forward.size) == \
        ([CODE], "urgent", DIGEST, 10)
    assert forward.offline_wait_seconds == 60  # the source's wait goes along


def test_the_peers_delivery_comes_back_step_by_step_and_once() -> None:
    pkg = planned()
    pkg = fold(pkg, rules.forwarded(pkg, CODE, "hcm", NOW))
    assert pkg.deliveries[peer_id(CODE)].state is DeliveryState.NOTIFIED
    assert rules.forwarded(pkg, CODE, "hcm", NOW) == []
    fetched = {"agency_code": CODE, "state": "fetched", "statuses": [{"code": "01"}]}
    events = rules.mirror(pkg, CODE, "hcm", fetched, statuses_seen=0, now=NOW)
    assert [type(e).__name__ for e in events] == ["StatusReported", "DeliveryFetched"]
    pkg = fold(pkg, events)
    again = rules.mirror(pkg, CODE, "hcm", fetched, statuses_seen=1, now=NOW)
    assert again == []
    acked = {**fetched, "state": "acknowledged", "statuses": [{"code": "01"}, {"code": "03"}]}
    events = rules.mirror(pkg, CODE, "hcm", acked, statuses_seen=1, now=NOW)
    assert [type(e).__name__ for e in events] == ["StatusReported", "DeliveryAcknowledged"]
    pkg = fold(pkg, events)
    assert pkg.deliveries[peer_id(CODE)].state is DeliveryState.ACKNOWLEDGED
    assert [c for c, _ in pkg.deliveries[peer_id(CODE)].statuses] == ["01", "03"]
    assert fold(pkg, events) == pkg  # recorded twice (a retry): the same package
    until = NOW + timedelta(days=1)
    # statuses may follow
    assert not rules.followed_enough(pkg, CODE, acked, until, NOW, cancelled=False)
    assert rules.followed_enough(pkg, CODE, acked, until, until, cancelled=False)
    done = {**acked, "statuses": [*acked["statuses"], {"code": "06"}]}
    assert rules.followed_enough(pkg, CODE, done, until, NOW, cancelled=False)


def test_a_refusal_or_a_closing_on_the_peer_closes_the_source_delivery() -> None:
    pkg = planned()
    [refused] = rules.refused(pkg, CODE, "hcm", NOW, "forwarding_loop")
    assert isinstance(refused, ev.DeliveryExpired) and "forwarding_loop" in refused.reason
    closed = fold(pkg, [refused])
    assert rules.refused(closed, CODE, "hcm", NOW, "again") == []
    assert rules.followed_enough(closed, CODE, None, None, NOW, cancelled=False)
    expired = {"agency_code": CODE, "state": "expired", "reason": "deadline", "statuses": []}
    [event] = rules.mirror(pkg, CODE, "hcm", expired, statuses_seen=0, now=NOW)
    assert isinstance(event, ev.DeliveryExpired) and event.reason == "peer_expired: deadline"
    # open until folded
    assert not rules.followed_enough(pkg, CODE, expired, None, NOW, cancelled=False)


def test_the_peer_delivery_is_found_by_code_or_as_the_only_one() -> None:
    view = {"deliveries": [{"agency_code": "000.00.05.H29", "state": "planned"}]}
    assert rules.peer_delivery(view, CODE) == view["deliveries"][0]  # a successor's code
    assert rules.peer_delivery({"deliveries": []}, CODE) is None


def test_the_sources_recall_redirect_and_extension_are_told_to_the_peer_once() -> None:
    pkg = planned()
    later = (NOW + timedelta(days=3)).isoformat()
    assert rules.source_changes(pkg, CODE, told_deadline=None, cancelled=False) == []
    extended = fold(pkg, [ev.DeadlineExtended(
        event_id="x", occurred_at=NOW, actor="app", correlation_id="c", package_id="p",
        destination_agency_id=peer_id(CODE), deadline=NOW + timedelta(days=3))])
    assert rules.forward_of(extended, CODE, "hub-a").deadline == later  # as it is now
    assert rules.source_changes(extended, CODE, told_deadline=None, cancelled=False) == \
        [rules.PeerAction("extend", later)]
    assert rules.source_changes(extended, CODE, told_deadline=later, cancelled=False) == []
    recalled = fold(extended, [ev.DeliveryRecalled(
        event_id="r2", occurred_at=NOW, actor="app", correlation_id="c", package_id="p",
        destination_agency_id=peer_id(CODE), reason="gửi nhầm")])
    assert rules.source_changes(recalled, CODE, told_deadline=later, cancelled=False) == \
        [rules.PeerAction("cancel", "gửi nhầm")]
    assert rules.source_changes(recalled, CODE, told_deadline=later, cancelled=True) == []
    # recalled while a pass ran: its first read told the peer nothing, its last sees the
    # recall — the row is followed until the peer has been told
    followed = {"agency_code": CODE, "state": "notified", "statuses": []}
    assert not rules.followed_enough(recalled, CODE, followed, None, NOW, cancelled=False)
    assert rules.followed_enough(recalled, CODE, followed, None, NOW, cancelled=True)


def test_the_sources_recall_request_13_is_told_to_the_peer_and_not_mirrored_back() -> None:
    """A 13 on a document already received goes to the peer's copy (its destination
    answers there, 15 or 16, and that comes back); the 13 the peer then lists is the one
    this hub told, never recorded again here."""
    acked = fold(planned(), rules.mirror(planned(), CODE, "hcm",
                                         {"state": "acknowledged", "statuses": []},
                                         statuses_seen=0, now=NOW))
    assert acked.deliveries[peer_id(CODE)].state is DeliveryState.ACKNOWLEDGED
    asked = fold(acked, [ev.StatusReported(
        event_id="s13", occurred_at=NOW, actor="app", correlation_id="c", package_id="p",
        agency_id="s", agency_code="000.00.11.H53", status_code="13",
        destination_agency_id=peer_id(CODE))])
    assert rules.source_changes(asked, CODE, told_deadline=None, cancelled=False) == \
        [rules.PeerAction("recall", "1")]
    assert rules.source_changes(asked, CODE, told_deadline=None, cancelled=False,
                                recalls_told=1) == []
    there = {"state": "acknowledged", "statuses": [{"code": "13"}, {"code": "15"}]}
    [answer] = rules.mirror(asked, CODE, "hcm", there, statuses_seen=0, now=NOW)
    assert isinstance(answer, ev.StatusReported) and answer.status_code == "15"
    answered = fold(asked, [answer])
    assert not answered.deliveries[peer_id(CODE)].recall_pending
    assert rules.source_changes(answered, CODE, told_deadline=None, cancelled=False,
                                recalls_told=1) == []
