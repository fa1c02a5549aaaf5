"""Deliveries to another zone: how a destination on a peer hub is named on this one.

An agency of another zone is not registered here, so its delivery has no agency id of
this registry. It is named ``peer:<code>``: stable (the same code gives the same id on
every node and on replay), distinct from every registered agency's id (a UUID), and the
code is in it, so the forwarder and the rules need nothing else to find the zone.
"""

from __future__ import annotations

PREFIX = "peer:"


def peer_id(code: str) -> str:
    return f"{PREFIX}{code}"


def peer_code(agency_id: str) -> str | None:
    """The code of a peer destination, or None for an agency registered here."""
    return agency_id[len(PREFIX):] if agency_id.startswith(PREFIX) else None


def is_peer(agency_id: str) -> bool:
    return agency_id.startswith(PREFIX)
