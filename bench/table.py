"""Medians over several result files, as a Markdown table:
``python -m bench.table bench/results/A.jsonl bench/results/B.jsonl …``."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def _label(result: dict[str, Any]) -> str:
    """The result's name, with the connections held for fan-out results."""
    level = result.get("target", result.get("connections"))
    return f"{result['name']} @{level}" if level is not None else str(result["name"])


def table(paths: list[Path]) -> str:
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        for line in path.read_text().splitlines():
            result = json.loads(line)
            rows[(_label(result), result["backend"])].append(result)
    out = ["| result | backend | median | unit | baseline (median) | ratio (median) | runs |",
           "|---|---|---:|---|---:|---:|---:|"]
    for (name, backend), found in rows.items():
        figure = _median([r["figure"] for r in found])
        base = _median([r["baseline"] for r in found])
        ratio = _median([r["ratio"] for r in found])
        out.append(f"| {name} | {backend} | {_fmt(figure)} | {found[0]['unit']} | "
                   f"{_fmt(base)} | {_fmt(ratio)} | {len(found)} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(table([Path(p) for p in sys.argv[1:]]), end="")
