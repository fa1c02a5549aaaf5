"""How registry records look in JSON, the same for the API and the CLI."""

from __future__ import annotations

from typing import Any

from hub.registry.model import Agency, App, Key, Operator
from hub.registry.service import NewKey
from hub.registry.view import RegistryView


def agency(a: Agency) -> dict[str, Any]:
    return {"agency_id": a.agency_id, "code": a.code, "name": a.name,
            "parent_code": a.parent_code, "account": a.account,
            "registered_at": a.registered_at.isoformat(),
            "former_codes": list(a.former_codes), "merged_into": a.merged_into,
            "signing": "required" if a.signing_required else "optional",
            "certificates": list(a.trusted_certificates)}


def app(a: App, view: RegistryView) -> dict[str, Any]:
    owner = view.registry.agencies.get(a.agency_id)
    grants = a.grants
    return {
        "app_id": a.app_id, "name": a.name, "state": a.state.value,
        "agency_id": a.agency_id, "agency_code": owner.code if owner else None,
        "signing": "RSA" if a.rsa_public_key_pem else "HMAC",
        "registered_at": a.registered_at.isoformat(),
        "grants": None if grants is None else {
            "operations": sorted(grants.operations),
            "destinations": sorted(grants.destinations),
            "data_types": sorted(grants.data_types)},
        "keys": [key(k) for k in view.registry.keys_of(a.app_id)],
    }


def key(k: Key) -> dict[str, Any]:
    return {"key_id": k.key_id, "access_key": k.access_key, "algorithm": k.algorithm,
            "valid_from": k.valid_from.isoformat(),
            "valid_until": k.valid_until.isoformat() if k.valid_until else None,
            "revoked": k.revoked}


def new_key(k: NewKey) -> dict[str, Any]:
    return {**key(k.key), "secret_key": k.secret}


def operator(o: Operator) -> dict[str, Any]:
    return {"operator_id": o.operator_id, "name": o.name, "role": o.role.value,
            "agency_code": o.agency_code, "registered_at": o.registered_at.isoformat()}
