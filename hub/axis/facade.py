"""What this hub answers as the national axis (``api/routes/axis.py`` is the driver): who
calls, by the axis's header signature, and the agency list in the axis's shape.

The caller's ``systemid`` is an app's access key; its secret is the app's secret. The
list is every live agency by code, read from the registry's directory index (kept as
events are folded), not sorted anew over the whole registry for each call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from hub.auth.sessions import Caller, lapsed
from hub.axis import signature
from hub.axis.signature import AxisRefused
from hub.registry import search
from hub.registry.model import Agency, AppState, Registry
from hub.registry.service import RegistryService


async def authenticate(service: RegistryService, headers: Mapping[str, str], now: datetime,
                       skew: timedelta) -> Caller:
    """The app calling, or ``AxisRefused`` unless ``headers`` (lower-cased) are signed by
    an approved app of a registered agency whose key holds now (the rule of every lasting
    credential: ``hub.auth.sessions.lapsed``)."""
    signed = signature.signed_part(headers)
    reg = service.registry
    key = reg.key(signed.system_id)
    if key is None or key.principal_id not in reg.apps \
            or lapsed(reg, key.principal_id, key.key_id, now) is not None:
        raise AxisRefused("unknown or revoked systemid")
    secret = await service.secret(key)
    if secret is None:
        raise AxisRefused("unknown or revoked systemid")
    signature.check(signed, headers, secret, now, skew)
    app = reg.apps[key.principal_id]
    agency = reg.agencies.get(app.agency_id)
    if app.state is not AppState.APPROVED or agency is None:
        raise AxisRefused("this system's app is not approved or its agency was removed",
                          code="app_not_approved")
    return Caller(app, key, agency.code)


def agencies_list(reg: Registry) -> list[dict[str, str]]:
    """``getAgenciesList``'s ``data``: every live agency, by code."""
    return [agency_row(reg, a) for a in search.live_by_code(reg)]


def agency_row(reg: Registry, agency: Agency) -> dict[str, str]:
    """An agency as the axis lists it: its national id when a national list brought it
    (so the axis's clients keep theirs), else the hub's own id."""
    parent = search.parent_of(reg, agency)
    return {"id": agency.national_id or agency.agency_id,
            "pid": (parent.national_id or parent.agency_id) if parent else "",
            "code": agency.code, "name": agency.name, "mail": agency.mail or "",
            "oldCode": agency.former_codes[-1] if agency.former_codes else "",
            "code102": agency.code}
