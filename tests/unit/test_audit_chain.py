"""The registry's audit chain (hub/audit.py): intact as recorded; every kind of tampering
breaks it where it happened."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hub import audit
from hub import events as ev

AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def envelope(n: int) -> ev.Envelope:
    return ev.Envelope(event_id=f"e{n}", occurred_at=AT, actor="op-1", correlation_id="c")


def agency(n: int) -> ev.AgencyRegistered:
    return ev.AgencyRegistered(**envelope(n), agency_id=f"a{n}", code=f"000.00.{n:02d}.H53",
                               name=f"Sở {n}", account=f"000.00.{n:02d}.H53@truc.local")


def chained(count: int) -> list[tuple[int, int, ev.Event]]:
    records: list[tuple[int, int, ev.Event]] = []
    head = audit.GENESIS
    for n in range(count):
        action = agency(n)
        linked = audit.link(action, f"a{n}", head, envelope(100 + n))
        head = linked.hash
        records += [(0, len(records), action), (0, len(records) + 1, linked)]
    return records


def test_an_untouched_chain_is_intact() -> None:
    verdict = audit.verify(chained(4))
    assert verdict.intact and verdict.linked == 4 and verdict.before_chain == 0


def test_an_altered_action_breaks_the_chain_at_that_action() -> None:
    records = chained(3)
    part, offset, action = records[2]
    assert isinstance(action, ev.AgencyRegistered)
    records[2] = (part, offset, replace(action, name="Sở giả mạo"))
    verdict = audit.verify(records)
    assert [(b.offset, b.event_id) for b in verdict.breaks] == [(2, "e1")]
    assert "altered" in verdict.breaks[0].reason


def test_a_removed_action_a_removed_link_and_an_inserted_action_are_each_found() -> None:
    removed = chained(3)
    del removed[2]
    assert "missing" in audit.verify(removed).breaks[0].reason
    unlinked = chained(3)
    del unlinked[3]
    reasons = [b.reason for b in audit.verify(unlinked).breaks]
    assert any("removed or altered" in r for r in reasons), reasons
    inserted = [*chained(2), (0, 4, agency(9))]
    assert [b.event_id for b in audit.verify(inserted).breaks] == ["e9"]


def test_actions_from_before_the_chain_began_are_counted_not_judged() -> None:
    records = [(0, 0, agency(7)), *[(p, o + 1, e) for p, o, e in chained(2)]]
    verdict = audit.verify(records)
    assert verdict.intact and verdict.before_chain == 1 and verdict.linked == 2


def test_a_window_of_actions_then_their_links_starts_a_chain_whole() -> None:
    """A directory sync on a fresh hub appends a window of actions, then their links: the
    first link began the chain and the actions before it were set aside as older, so
    every other link of the window named a "missing" action."""
    actions = [agency(n) for n in range(3)]
    links, head = [], audit.GENESIS
    for n, action in enumerate(actions):
        links.append(audit.link(action, f"a{n}", head, envelope(100 + n)))
        head = links[-1].hash
    events: list[ev.Event] = [agency(7), *actions, *links]
    verdict = audit.verify([(0, o, e) for o, e in enumerate(events)])
    assert verdict.intact and verdict.linked == 3 and verdict.before_chain == 1
    altered = [agency(7), replace(actions[1], name="Sở giả mạo"), actions[0], actions[2],
               *links]
    assert [b.event_id for b in audit.verify(
        [(0, o, e) for o, e in enumerate(altered)]).breaks] == ["e1"]


def test_the_digest_is_the_canonical_json_it_always_was() -> None:
    """Links recorded by earlier releases must still verify: the digest's canonical form
    (made faster for directory syncs) is pinned, datetime, accents and quotes included."""
    at = datetime(2026, 11, 29, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
    event = ev.AgencyRegistered(event_id="e1", occurred_at=at, actor="op-1",
                                correlation_id="c", agency_id="a0", code="000.00.00.H53",
                                name='Sở 0 "q" ü\u0301', account="x", national_id="7",
                                mail="m@x")
    assert audit.digest(event) == (
        "39c596cb6a8edbfabe0d1dc13cef52e89f9b75682271cb86f43a1ded7e16f60a")
