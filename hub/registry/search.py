"""The directory (Điều 5.7, smart lookup of destinations): accent-insensitive search over
agencies' names and codes, old codes included, with the QCVN 102 hierarchy.

Pure, over the registry every node holds in memory (its ``search_text`` index is kept as
events are folded), so a search never waits on storage. Paging is by offset over a stable
order: an exact code match first, then by code.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub import bounds
from hub.errors import InvalidRequest
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.model import Agency, Registry
from hub.registry.succession import resolve
from hub.text import fold

MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_QUERY = 200
MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class DirectoryQuery:
    text: str = ""
    parent: str | None = None
    """Only the direct children of this code (resolved through successions)."""
    level: int | None = None
    offset: int = 0
    limit: int = DEFAULT_PAGE


@dataclass(frozen=True)
class Page:
    total: int
    agencies: list[Agency]


def checked(query: DirectoryQuery) -> DirectoryQuery:
    bounds.check_text(query.text, "q", MAX_QUERY, allow_empty=True, code="invalid_query")
    bounds.check_int(query.limit, "limit", 1, MAX_PAGE, code="invalid_query")
    bounds.check_int(query.offset, "offset", 0, MAX_OFFSET, code="invalid_query")
    if query.level is not None:
        bounds.check_int(query.level, "level", 1, 4, code="invalid_query")
    return query


def search(reg: Registry, query: DirectoryQuery) -> Page:
    """The page of live agencies matching every word of ``text`` (as substrings, without
    accents: "so tu phap" finds "Sở Tư pháp"; a code, old or new, finds its agency), by
    code, an exact code match first: one pass over the registry's index, kept in code
    order between changes."""
    query = checked(query)
    words = fold(query.text).split()
    rows = _ordered(reg) if query.parent is None else _children(reg, query.parent)
    matched = [i for code, i, text in rows
               if all(w in text for w in words)
               and (query.level is None or _depth(code) == query.level)]
    exact = _exact(reg, query.text)
    if exact is not None and exact in matched:
        matched.remove(exact)
        matched.insert(0, exact)
    page = matched[query.offset:query.offset + query.limit]
    return Page(len(matched), [reg.agencies[i] for i in page])


def live_by_code(reg: Registry) -> list[Agency]:
    """Every live agency (none merged or removed), by code: the directory's index."""
    return [reg.agencies[i] for _, i, _ in _ordered(reg)]


def _ordered(reg: Registry) -> list[tuple[str, str, str]]:
    if reg.search_order is None:
        reg.search_order = sorted((reg.agencies[i].code, i, text)
                                  for i, text in reg.search_text.items())
    return reg.search_order


def _children(reg: Registry, parent: str) -> list[tuple[str, str, str]]:
    try:
        found = reg.agency(str(AgencyCode.parse(parent)))
    except InvalidAgencyCode:
        raise InvalidRequest(f"parent {parent!r} is not an agency code",
                             code="invalid_query", field="parent") from None
    if found is None:
        return []
    ids = {i for code in found.codes for i in reg.children.get(code, ())}
    return sorted((reg.agencies[i].code, i, reg.search_text.get(i, "")) for i in ids)


def _depth(code: str) -> int:
    """A registered code's level, read from its shape (``000.00.11.H53`` → 2)."""
    return 1 + sum(part.strip("0") != "" for part in code.split(".")[:3])


def _exact(reg: Registry, text: str) -> str | None:
    found = resolve(reg, text)
    return found.agency.agency_id if found else None


def level(agency: Agency) -> int:
    """1 for a province or ministry (000.00.00.H53) down to 4."""
    return AgencyCode.parse(agency.code).depth


def parent_of(reg: Registry, agency: Agency) -> Agency | None:
    return reg.agency(agency.parent_code) if agency.parent_code else None


def ancestors(reg: Registry, agency: Agency) -> list[Agency]:
    """From the parent up to level 1, each parent as it is known today (through
    successions); at most four, so a cycle recorded by mistake ends."""
    found: list[Agency] = []
    up = parent_of(reg, agency)
    while up is not None and len(found) < 4:
        found.append(up)
        up = parent_of(reg, up)
    return found


def child_count(reg: Registry, agency: Agency) -> int:
    return len({i for code in agency.codes for i in reg.children.get(code, ())})
