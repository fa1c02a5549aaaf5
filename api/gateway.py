"""The gateway's poller wired to this hub's own use cases (``streams/gateway.py``): a
document the national axis holds for this hub is sent here in one call, as the app the
axis zone names (``local_key``), with an idempotency key derived from its ``docId``;
the seal reads it as any edXML package, delivered to the ``To`` codes registered here."""

from __future__ import annotations

import hashlib

from api.packages_service import Packages
from api.runtime import Runtime
from hub.auth.sessions import Caller
from hub.axis import edocs
from hub.axis import gateway as rules
from hub.packages.decisions import SendRequest, new_package_id
from hub.packages.model import PackageState
from hub.zones.model import Zone
from streams.catalog import axis_clients, secret_lookup
from streams.gateway import AxisPoller


def axis_poller(runtime: Runtime) -> AxisPoller:
    service = Packages(runtime)

    def caller(zone: Zone) -> Caller:
        reg = runtime.view.registry
        key = reg.key(zone.local_key)
        app = reg.apps.get(key.principal_id) if key is not None else None
        agency = reg.agencies.get(app.agency_id) if app is not None else None
        if key is None or app is None or agency is None:
            raise LookupError(f"the axis zone {zone.name} names no app of this hub")
        return Caller(app, key, agency.code)

    async def known(zone: Zone, doc_id: str) -> bool:
        app_id = caller(zone).app.app_id
        pkg = await service.load(new_package_id(app_id, rules.inbound_key(doc_id)))
        return pkg is not None and pkg.state is not PackageState.UPLOADING

    async def bring_in(zone: Zone, doc_id: str, content: bytes) -> None:
        digest = hashlib.sha256(content).hexdigest()
        req = SendRequest([], edocs.title_of(content), "normal", edocs.EDXML, edocs.PROTOCOL,
                          len(content), digest, idempotency_key=rules.inbound_key(doc_id))
        await service.send(caller(zone), req, content, None, None)

    clients = axis_clients(runtime.backend,
                           secret_lookup(runtime.backend, runtime.wrapper))
    return AxisPoller(runtime.view, clients, known, bring_in,
                      interval=runtime.settings.axis_poll_seconds)
