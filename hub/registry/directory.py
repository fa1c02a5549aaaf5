"""The agency directory projection: who the registered agencies are.

Two views: ``agencies`` (all agencies, keyed by their stable id, read as one list by the
operators' console) and ``agency_codes`` (code -> id), because routing resolves any
code, old or new, to the agency behind it.
"""

from __future__ import annotations

from hub import events as ev
from hub.ports import Row, RowRef
from hub.projection import NOTHING, Projector, Writes
from hub.topics import REGISTRY

AGENCIES = "agencies"
AGENCY_CODES = "agency_codes"
ALL = "all"


def agency_ref(agency_id: str) -> RowRef:
    return RowRef(AGENCIES, ALL, agency_id)


def code_ref(code: str) -> RowRef:
    return RowRef(AGENCY_CODES, code, "")


def project(event: ev.Event) -> Writes:
    """Registrations write both views; a succession adds its codes (old and new) to
    ``agency_codes``; a removal deletes the agency's row and the code it had. (The
    registry each node folds in memory is the one that carries names and successions.)"""
    if isinstance(event, ev.AgencySucceeded):
        return Writes(upserts=[Row(code_ref(c), {"agency_id": event.agency_id})
                               for c in (event.code, *event.old_codes)])
    if isinstance(event, ev.AgencyRemoved):
        return Writes(deletes=[agency_ref(event.agency_id), code_ref(event.code)])
    if not isinstance(event, ev.AgencyRegistered):
        return NOTHING
    agency = {
        "agency_id": event.agency_id,
        "code": event.code,
        "name": event.name,
        "parent_code": event.parent_code,
        "account": event.account,
        "registered_at": event.occurred_at.isoformat(),
    }
    return Writes(upserts=[
        Row(agency_ref(event.agency_id), agency),
        Row(code_ref(event.code), {"agency_id": event.agency_id}),
    ])


DIRECTORY = Projector(name="directory", topics=(REGISTRY,), project=project)
