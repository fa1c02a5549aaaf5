"""Agency codes (mã định danh) as QCVN 102:2016 defines them.

A code has four dot-separated levels ``V1V2V3.Z1Z2.Y1Y2.X`` read right to left: ``X`` (a
letter and two digits) is level 1, the province, ministry or central body (``H53``,
``G22``); ``Y1Y2`` level 2 (a department of the province); ``Z1Z2`` level 3; ``V1V2V3``
level 4. Zeros mean the level is unused. An agency's parent is the code with its lowest
used level zeroed: ``000.01.11.H53`` → ``000.00.11.H53`` → ``000.00.00.H53``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import InvalidRequest

_SHAPE = re.compile(r"([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")
r"""ASCII only, matched whole: ``\d`` would take fullwidth (１１) or Arabic-Indic digits,
and ``upper()`` maps some non-ASCII letters to ASCII ones (``ı`` → ``I``), so lookalike
codes would register as new agencies."""


class InvalidAgencyCode(InvalidRequest):
    code = "invalid_agency_code"


@dataclass(frozen=True)
class AgencyCode:
    level4: str
    level3: str
    level2: str
    level1: str

    @classmethod
    def parse(cls, text: str) -> AgencyCode:
        stripped = text.strip() if isinstance(text, str) else ""
        match = _SHAPE.fullmatch(stripped.upper()) if stripped.isascii() else None
        if match is None:
            raise InvalidAgencyCode(
                f"{text!r} is not a QCVN 102:2016 agency code: expected four levels "
                "like 000.00.11.H53 (3 digits, 2 digits, 2 digits, a letter and 2 digits)",
                agency_code=text,
            )
        code = cls(*match.groups())
        code._check_levels_nest()
        return code

    def _check_levels_nest(self) -> None:
        """A lower level cannot be used while a level above it is unused."""
        used = [not _zero(level) for level in (self.level2, self.level3, self.level4)]
        if any(used[i + 1] and not used[i] for i in range(2)):
            raise InvalidAgencyCode(
                f"{self} uses a lower level under an unused one (zeros mean unused)",
                agency_code=str(self),
            )

    def __str__(self) -> str:
        return f"{self.level4}.{self.level3}.{self.level2}.{self.level1}"

    @property
    def depth(self) -> int:
        """1 for a top-level agency (000.00.00.H53), up to 4."""
        return 1 + sum(not _zero(x) for x in (self.level2, self.level3, self.level4))

    def parent(self) -> AgencyCode | None:
        if not _zero(self.level4):
            return AgencyCode("000", self.level3, self.level2, self.level1)
        if not _zero(self.level3):
            return AgencyCode("000", "00", self.level2, self.level1)
        if not _zero(self.level2):
            return AgencyCode("000", "00", "00", self.level1)
        return None


def _zero(level: str) -> bool:
    return set(level) == {"0"}


def normalise(text: str) -> str:
    """The canonical spelling of a valid code; raises ``InvalidAgencyCode`` otherwise."""
    return str(AgencyCode.parse(text))
