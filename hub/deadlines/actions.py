"""The source's commands on one delivery: extend its deadline, redirect it, recall it.

Only the source agency may act (anyone else gets ``package_not_found``, as for every
package it may not see), with an app granted ``send``. What may change:

| delivery is | extend | redirect | recall |
|---|---|---|---|
| planned, notified, fetched | new deadline | yes | yes |
| expired, package not completed | reopens it | yes | 409 ``delivery_closed`` |
| expired, package completed (content shredded) | 410 ``content_shredded`` | 410 | 409 |
| acknowledged | 409 ``already_acknowledged`` | 409 | 409 |
| recalled / redirected | 409 ``delivery_closed`` | 409 | 409 |

A package is completed the moment its last delivery closes, and its content is shredded
then: so an expired delivery reopens only while another delivery of the package is open.
"""

from __future__ import annotations

from datetime import datetime

from hub import events as ev
from hub.auth.sessions import Caller, NotGranted, require
from hub.bounds import REASON, check_deadline, check_optional_text
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.packages.decisions import Gone, not_found
from hub.packages.model import Delivery, DeliveryState, Package
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.decisions import Context
from hub.registry.model import Operation, Registry
from hub.zones.decisions import destination_id


def source_delivery(pkg: Package | None, caller: Caller, code: str) -> Delivery:
    """The delivery to ``code`` of a package the caller's agency sent."""
    if pkg is None or pkg.source_agency_id != caller.app.agency_id:
        raise not_found()
    require(caller, Operation.SEND)
    for delivery in pkg.deliveries.values():
        if delivery.code == code:
            return delivery
    raise NotFound(f"the package has no delivery to {code}", code="delivery_not_found")


def _check_changeable(pkg: Package, delivery: Delivery) -> None:
    if delivery.state is DeliveryState.ACKNOWLEDGED:
        raise Conflict("this delivery is already acknowledged", code="already_acknowledged")
    if delivery.state.withdrawn:
        raise Conflict(f"this delivery was {delivery.state.value}", code="delivery_closed")
    if delivery.state is DeliveryState.EXPIRED and not pkg.reopenable:
        raise Gone("every delivery of this package is closed and its content destroyed",
                   code="content_shredded")


def extend(ctx: Context, pkg: Package | None, caller: Caller, code: str,
           deadline: datetime) -> ev.DeadlineExtended:
    delivery = source_delivery(pkg, caller, code)
    assert pkg is not None
    _check_changeable(pkg, delivery)
    deadline = check_deadline(deadline, ctx.now, code="invalid_deadline")
    return ev.DeadlineExtended(**ctx.envelope(), package_id=pkg.package_id,
                               destination_agency_id=delivery.agency_id, deadline=deadline)


def redirect(ctx: Context, reg: Registry, pkg: Package | None, caller: Caller, *,
             from_code: str, to_code: str) -> ev.DeliveryRedirected:
    delivery = source_delivery(pkg, caller, from_code)
    assert pkg is not None
    _check_changeable(pkg, delivery)
    agency_id, code, codes = _target(reg, to_code)
    if agency_id in pkg.deliveries or agency_id == pkg.source_agency_id:
        raise Conflict(f"{code} is already a recipient of this package",
                       code="already_recipient")
    grants = caller.app.grants
    if grants is None or not any(grants.allows_destination(c) for c in codes):
        raise NotGranted(f"this app may not send to {code}", refused=[code])
    return ev.DeliveryRedirected(**ctx.envelope(), package_id=pkg.package_id,
                                 from_agency_id=delivery.agency_id,
                                 to_agency_id=agency_id, to_code=code)


def _target(reg: Registry, to_code: str) -> tuple[str, str, tuple[str, ...]]:
    """(agency id, code, every code that names it) of a redirect's new destination: an
    agency registered here, or another zone's (``hub.zones``), as a send resolves it."""
    try:
        named = str(AgencyCode.parse(to_code))
    except InvalidAgencyCode:
        named = ""
    target = reg.agency(named) if named else None
    if target is not None:
        return target.agency_id, target.code, target.codes
    found = destination_id(reg, named) if named else None
    if found is not None:
        return found, named, (named,)
    raise InvalidRequest(f"unknown agency {to_code}", code="unknown_destination")


def recall(ctx: Context, pkg: Package | None, caller: Caller, code: str | None,
           reason: str | None) -> list[ev.DeliveryRecalled]:
    """One delivery (``code``), or every delivery still open when ``code`` is None."""
    if code is not None:
        delivery = source_delivery(pkg, caller, code)
        assert pkg is not None
        if delivery.state is DeliveryState.ACKNOWLEDGED:
            raise Conflict("this delivery is already acknowledged", code="already_acknowledged")
        if delivery.state.closed:
            raise Conflict(f"this delivery is already {delivery.state.value}",
                           code="delivery_closed")
        targets = [delivery]
    else:
        if pkg is None or pkg.source_agency_id != caller.app.agency_id:
            raise not_found()
        require(caller, Operation.SEND)
        targets = [d for d in pkg.deliveries.values() if not d.state.closed]
        if not targets:
            raise Conflict("no delivery of this package is open", code="delivery_closed")
    text = check_optional_text(reason, "reason", REASON, multiline=True) \
        or "recalled by the source"
    return [ev.DeliveryRecalled(**ctx.envelope(), package_id=pkg.package_id,
                                destination_agency_id=d.agency_id, reason=text)
            for d in targets]
