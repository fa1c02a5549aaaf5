"""Codes a caller names on a package's deliveries, old or new, mapped to the code the
delivery is known by (``hub.registry.succession.delivery_code``): a status or an action
that names a closed code reaches the successor's delivery, and the other way round."""

from __future__ import annotations

from api.packages_service import Packages
from hub.registry.succession import delivery_code


async def named_delivery(service: Packages, package_id: str, code: str | None) -> str | None:
    if code is None:
        return None
    pkg = await service.load(package_id)
    if pkg is None:
        return code  # the action refuses it as it always did
    known = {d.agency_id: d.code for d in pkg.deliveries.values()}
    return delivery_code(service.rt.view.registry, known, code)
