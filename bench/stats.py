"""Medians and percentiles over small samples (nearest-rank on the sorted values)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100), nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of seconds, in milliseconds rounded to 0.1."""
    out = {f"p{q}": percentile(values, q) for q in (50, 95, 99)}
    out["max"] = max(values) if values else math.nan
    return {k: round(v * 1000, 1) for k, v in out.items()}


def ratio(figure: float, baseline: float | None) -> float | None:
    if not baseline:
        return None
    return round(figure / baseline, 4)
