"""QCVN 102:2016 agency codes: shape, levels, parents."""

from __future__ import annotations

import pytest

from hub.registry.codes import AgencyCode, InvalidAgencyCode, normalise


@pytest.mark.parametrize(
    ("code", "parent", "depth"),
    [
        ("000.00.00.H02", None, 1),
        ("000.00.00.G22", None, 1),
        ("000.00.11.H53", "000.00.00.H53", 2),
        ("000.01.11.H53", "000.00.11.H53", 3),
        ("123.01.11.H53", "000.01.11.H53", 4),
    ],
)
def test_parents_and_depths(code: str, parent: str | None, depth: int) -> None:
    parsed = AgencyCode.parse(code)
    assert str(parsed) == code
    assert (str(parsed.parent()) if parsed.parent() else None) == parent
    assert parsed.depth == depth


@pytest.mark.parametrize(
    "bad",
    ["", "H53", "000.00.11", "00.00.11.H53", "000.0.11.H53", "000.00.11.53",
     "000.00.11.HH3", "000.00.11.H5", "abc.00.11.H53", "000.00.11.H53.1", "000-00-11-H53",
     "000.01.00.H53", "001.00.11.H53"],
)
def test_malformed_codes_are_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(InvalidAgencyCode) as caught:
        AgencyCode.parse(bad)
    assert caught.value.code == "invalid_agency_code"
    assert caught.value.status == 400


def test_codes_are_normalised_to_upper_case_without_spaces() -> None:
    assert normalise(" 000.00.11.h53 ") == "000.00.11.H53"
