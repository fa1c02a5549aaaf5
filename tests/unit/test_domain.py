"""The pure domain pieces of the foundation: routing, the directory projector, clocks."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

import pytest

from hub import events as ev
from hub.clock import ManualClock, SystemClock
from hub.processors import PROJECTORS, projector
from hub.projection import NOTHING
from hub.registry.directory import AGENCIES, ALL, DIRECTORY, agency_ref, code_ref
from hub.topics import ALL_TOPICS, PACKAGES, PRESENCE, REGISTRY, route
from tests.factories import agency_registered, chunk_stored, envelope


def sample(cls: type[ev.Event]) -> ev.Event:
    """An instance of any event type, with every field filled by its type."""
    values: dict[str, object] = dict(envelope())
    for name, hint in typing.get_type_hints(cls).items():
        if name in values:
            continue
        values[name] = {str: f"{name}-1", int: 1, list[str]: ["x"]}.get(
            hint, datetime(2026, 1, 1, tzinfo=UTC))
    return cls(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", ev.EVENT_TYPES, ids=lambda c: c.__name__)
def test_every_event_has_a_topic_and_a_key(cls: type[ev.Event]) -> None:
    topic, key = route(sample(cls))
    assert topic in ALL_TOPICS
    assert key


def test_packages_are_keyed_by_package_and_presence_by_agency() -> None:
    assert route(chunk_stored("p-1", 0)) == (PACKAGES, "p-1")
    connected = sample(ev.AgencyConnected)
    assert route(connected) == (PRESENCE, connected.agency_id)  # type: ignore[attr-defined]
    registered = agency_registered(agency_id="a-1")
    assert route(registered) == (REGISTRY, "a-1")


def test_unknown_events_have_no_route() -> None:
    with pytest.raises(TypeError):
        route(ev.Event(**envelope()))  # type: ignore[arg-type]


def test_directory_projects_an_agency_and_its_code() -> None:
    event = agency_registered(code="000.00.00.H02", name="UBND tỉnh", agency_id="a-1")
    writes = DIRECTORY.project(event)
    rows = {row.ref: row.body for row in writes.upserts}
    assert rows[agency_ref("a-1")]["code"] == "000.00.00.H02"
    assert rows[agency_ref("a-1")]["name"] == "UBND tỉnh"
    assert rows[code_ref("000.00.00.H02")] == {"agency_id": "a-1"}
    assert agency_ref("a-1").view == AGENCIES and agency_ref("a-1").partition == ALL


def test_directory_ignores_other_events() -> None:
    assert DIRECTORY.project(chunk_stored("p", 0)) is NOTHING


def test_projectors_are_found_by_name() -> None:
    assert projector("directory") is DIRECTORY
    assert DIRECTORY in PROJECTORS
    with pytest.raises(KeyError):
        projector("nope")


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 11, 27, tzinfo=UTC))
    before = clock.now()
    assert clock.now() == before
    clock.advance(timedelta(minutes=5))
    assert clock.now() - before == timedelta(minutes=5)


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC


def test_system_clock_has_the_precision_events_keep() -> None:
    assert SystemClock().now().microsecond % 1000 == 0
