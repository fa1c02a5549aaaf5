"""The console's package search (issue 16: find by id, title, number/notation, sender,
recipient, date) over the exchange history (``hub.history``): which agencies' history to
read, and which of their rows match.

The history holds one row per (agency, package): the source's ``sent`` row and each
destination's ``received`` row. A sender narrows the read to that agency's history (its
sent rows) when the operator sees it; a recipient to that agency's received rows; else
every agency the operator sees is read and the rows filtered. Codes match any code the
agency has held (``Agency.codes``), so a search by an old code still finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.registry.model import Agency, Registry


@dataclass(frozen=True)
class PackageSearch:
    sender: frozenset[str] = frozenset()
    """The sender's codes (empty: any)."""
    recipient: frozenset[str] = frozenset()
    """The recipient's codes (empty: any)."""

    @classmethod
    def of(cls, registry: Registry, sender: str, recipient: str) -> PackageSearch:
        """An unknown code is searched as written (a package may name it)."""
        return cls(_codes(registry, sender), _codes(registry, recipient))

    def agencies(self, visible: list[Agency]) -> list[Agency]:
        """Whose history to read: the sender's, else the recipient's, when visible;
        otherwise every visible agency's."""
        for codes in (self.sender, self.recipient):
            narrowed = [a for a in visible if codes and codes & set(a.codes)]
            if narrowed:
                return narrowed
        return visible

    def matches(self, row: Mapping[str, Any], agency: Agency) -> bool:
        """``row`` from ``agency``'s history."""
        if self.sender and row["source"] not in self.sender:
            return False
        if not self.recipient:
            return True
        if row["direction"] == "received":
            return bool(self.recipient & set(agency.codes))
        return bool(self.recipient & set(row["counterparts"]))


def _codes(registry: Registry, code: str) -> frozenset[str]:
    code = code.strip()
    if not code:
        return frozenset()
    agency = registry.agency(code)
    return frozenset(agency.codes if agency else (code,)) | {code}
