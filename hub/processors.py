"""Every projector and fold the hub runs, in one place, for both drivers."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hub.alerts.view import ALERTS_PROJECTOR
from hub.history import history_fold
from hub.projection import Fold, Projector
from hub.registry.directory import DIRECTORY
from hub.statistics.fold import statistics_fold

PROJECTORS: tuple[Projector, ...] = (DIRECTORY, ALERTS_PROJECTOR)


def folds(tz: ZoneInfo) -> tuple[Fold, ...]:
    """The stateful projections; they count by the hub's local date, hence ``tz``."""
    return (statistics_fold(tz), history_fold(tz))


FOLD_TOPICS: dict[str, tuple[str, ...]] = {f.name: f.topics for f in folds(ZoneInfo("UTC"))}


def projector(name: str) -> Projector:
    for candidate in PROJECTORS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no projector named {name!r}; known: {[p.name for p in PROJECTORS]}")


def fold_named(name: str, tz: ZoneInfo) -> Fold:
    for candidate in folds(tz):
        if candidate.name == name:
            return candidate
    raise KeyError(f"no projection named {name!r}; known: {sorted(FOLD_TOPICS)}")
