"""The console's package search: whose history it reads, which rows match."""

from __future__ import annotations

from typing import Any

from hub.package_search import PackageSearch
from hub.registry.model import Registry
from tests import factories

A, B, C = "000.00.41.H53", "000.00.42.H53", "000.00.43.H53"


def registry() -> Registry:
    reg = Registry()
    for code in (A, B, C):
        reg.apply(factories.agency_registered(code, agency_id=f"id-{code}"))
    return reg


def row(direction: str, source: str, counterparts: list[str]) -> dict[str, Any]:
    return {"direction": direction, "source": source, "counterparts": counterparts}


def test_a_sender_reads_its_history_and_keeps_its_sent_rows() -> None:
    reg = registry()
    search = PackageSearch.of(reg, A, "")
    agencies = list(reg.agencies.values())
    assert [a.code for a in search.agencies(agencies)] == [A]
    a, b = reg.agencies[f"id-{A}"], reg.agencies[f"id-{B}"]
    assert search.matches(row("sent", A, [B]), a)
    assert not search.matches(row("received", C, [C]), b)


def test_a_recipient_matches_received_rows_and_sent_rows_naming_it() -> None:
    reg = registry()
    search = PackageSearch.of(reg, "", B)
    a, b, c = (reg.agencies[f"id-{x}"] for x in (A, B, C))
    assert [x.code for x in search.agencies([a, b, c])] == [B]
    assert search.matches(row("received", A, [A]), b)
    assert not search.matches(row("received", A, [A]), c)
    assert search.matches(row("sent", A, [B, C]), a)
    assert not search.matches(row("sent", A, [C]), a)


def test_sender_and_recipient_together_and_a_sender_the_operator_cannot_see() -> None:
    reg = registry()
    search = PackageSearch.of(reg, A, B)
    b = reg.agencies[f"id-{B}"]
    assert [x.code for x in search.agencies([b])] == [B]  # an agency-admin of B
    assert search.matches(row("received", A, [A]), b)
    assert not search.matches(row("received", C, [C]), b)


def test_nothing_given_reads_every_visible_agency_and_keeps_every_row() -> None:
    reg = registry()
    search = PackageSearch.of(reg, " ", "")
    visible = list(reg.agencies.values())
    assert search.agencies(visible) == visible
    assert search.matches(row("sent", C, [A]), visible[0])


def test_an_unknown_code_is_searched_as_written() -> None:
    search = PackageSearch.of(registry(), "000.00.99.H53", "")
    assert search.sender == frozenset({"000.00.99.H53"})
