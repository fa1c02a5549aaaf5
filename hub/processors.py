"""Every projector the hub runs, in one place, for both drivers."""

from __future__ import annotations

from hub.projection import Projector
from hub.registry.directory import DIRECTORY

PROJECTORS: tuple[Projector, ...] = (DIRECTORY,)


def projector(name: str) -> Projector:
    for candidate in PROJECTORS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no projector named {name!r}; known: {[p.name for p in PROJECTORS]}")
