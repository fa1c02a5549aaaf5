"""The directory (Điều 5.7): find destination agencies by name or code, old codes
included, with their place in the QCVN 102 hierarchy and whether they are online.

Any registered caller may search (an app or an operator): the directory is what a source
needs to address a package. The online state follows the presence rule of today: an app
sees it for its own agency and the agencies it may send to, an operator for those it
sees; otherwise ``online`` is null.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import CurrentAdmin, RuntimeDep, principal
from api.door import DoorRoute
from api.runtime import Runtime
from hub.auth.authenticate import Principal
from hub.errors import NotFound
from hub.presence import queries
from hub.presence.model import AgencyPresence, index_ref
from hub.registry import search
from hub.registry.decisions import Context
from hub.registry.model import Agency, Registry
from hub.registry.succession import lineage, resolve

router = APIRouter(prefix="/v1", tags=["directory"], route_class=DoorRoute)
Caller = Annotated[Principal, Depends(principal)]


class AgencyRef(BaseModel):
    code: str
    name: str


class DirectoryEntry(BaseModel):
    agency_id: str
    code: str = Field(description="The agency's current QCVN 102:2016 code.")
    name: str
    level: int = Field(description="1 (province, ministry) to 4.")
    parent: AgencyRef | None = Field(description="The agency its code derives from, if "
                                                 "registered.")
    children: int = Field(description="How many registered agencies sit directly under it.")
    former_codes: list[str] = Field(description="Closed codes that still resolve to it.")
    online: bool | None = Field(description="Null when the caller may not see it.")
    online_since: str | None = None


class DirectoryPage(BaseModel):
    total: int
    offset: int
    limit: int
    agencies: list[DirectoryEntry]


class DirectoryAgency(DirectoryEntry):
    named: str = Field(description="The code as the caller named it: differs from `code` "
                                   "when it was closed and the agency carries on.")
    ancestors: list[AgencyRef] = Field(description="From the parent up to level 1.")


@router.get("/directory")
async def directory(caller: Caller, runtime: RuntimeDep, *,
                    q: Annotated[str, Query(max_length=search.MAX_QUERY, description=(
                        "Words of a name or a code, accents optional."))] = "",
                    parent: Annotated[str | None, Query(
                        max_length=40, description="Only the children of this code.")] = None,
                    level: Annotated[int | None, Query(ge=1, le=4)] = None,
                    offset: Annotated[int, Query(ge=0, le=search.MAX_OFFSET)] = 0,
                    limit: Annotated[int, Query(ge=1, le=search.MAX_PAGE)] = search.DEFAULT_PAGE
                    ) -> DirectoryPage:
    """Search the registered agencies: "so tu phap" finds "Sở Tư pháp"; a code, old or
    new, finds its agency first."""
    page = search.search(runtime.view.registry,
                         search.DirectoryQuery(q, parent or None, level, offset, limit))
    entries = await asyncio.gather(*(_entry(runtime, caller, a) for a in page.agencies))
    return DirectoryPage(total=page.total, offset=offset, limit=limit, agencies=list(entries))


@router.get("/directory/{code}")
async def directory_agency(code: str, caller: Caller, runtime: RuntimeDep) -> DirectoryAgency:
    """One agency by any of its codes; ``named`` and ``code`` differ for a closed code."""
    reg = runtime.view.registry
    found = resolve(reg, code)
    if found is None:
        raise NotFound(f"no agency {code}", code="agency_not_found")
    entry = await _entry(runtime, caller, found.agency)
    return DirectoryAgency(**entry.model_dump(), named=found.named, ancestors=[
        AgencyRef(code=a.code, name=a.name) for a in search.ancestors(reg, found.agency)])


async def _entry(runtime: Runtime, caller: Principal, agency: Agency) -> DirectoryEntry:
    reg = runtime.view.registry
    up = search.parent_of(reg, agency)
    online, since = await _online(runtime, agency) if _may_see(caller, agency) else (None, None)
    return DirectoryEntry(
        agency_id=agency.agency_id, code=agency.code, name=agency.name,
        level=search.level(agency),
        parent=AgencyRef(code=up.code, name=up.name) if up else None,
        children=search.child_count(reg, agency), former_codes=list(agency.former_codes),
        online=online, online_since=since)


def _may_see(caller: Principal, agency: Agency) -> bool:
    if caller.operator is not None:
        return any(caller.operator.sees(c) for c in agency.codes)
    return caller.app is not None and queries.may_see(caller.app, agency)


async def _online(runtime: Runtime, agency: Agency) -> tuple[bool, str | None]:
    """The presence of the agency and of those merged into it, read at once."""
    rows = await asyncio.gather(*(runtime.backend.projections.get(index_ref(a.agency_id))
                                  for a in lineage(runtime.view.registry, agency)))
    return queries.merged_online(AgencyPresence.from_json(r.body) for r in rows if r is not None)


class Succession(BaseModel):
    old_codes: list[str] = Field(min_length=1, max_length=100,
                                 description="The codes that close.")
    new_code: str = Field(max_length=40, description="The code the agency carries on under.")
    effective_at: datetime = Field(description="When it took effect (not in the future).")
    reason: str = Field(max_length=500, description="The decision that closed the codes.")
    name: str | None = Field(None, max_length=300, description="The successor's new name.")


class SuccessionRecorded(BaseModel):
    agency_id: str
    code: str
    name: str
    former_codes: list[str]
    merged: list[str] = Field(description="Agencies (by code) that merged into it.")


@router.post("/ops/successions", status_code=201, tags=["operators"])
async def record_succession(body: Succession, operator: CurrentAdmin,
                            runtime: RuntimeDep) -> SuccessionRecorded:
    """Old codes close; the agency carries on under the new code (a re-code), or several
    agencies merge into one. From then on every old code reaches the successor."""
    ctx = Context(operator.operator_id, runtime.backend.clock.now(), str(uuid.uuid4()))
    agency = await runtime.registry.succeed(ctx, body.old_codes, body.new_code,
                                            effective_at=body.effective_at,
                                            reason=body.reason, name=body.name)
    return succession_view(runtime.view.registry, agency)


def succession_view(reg: Registry, agency: Agency) -> SuccessionRecorded:
    return SuccessionRecorded(
        agency_id=agency.agency_id, code=agency.code, name=agency.name,
        former_codes=list(agency.former_codes),
        merged=sorted(a.code for a in reg.predecessors(agency.agency_id)))
