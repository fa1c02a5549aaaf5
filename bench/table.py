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


def _label(result: dict[str, Any], level: int | None) -> str:
    """The result's name, with the connections aimed at for fan-out results (the level of
    the run's last ``fanout.connections`` line: the actual count is in the results)."""
    if "connections" in result or "target" in result:
        return f"{result['name']} @{level}"
    return str(result["name"])


def table(paths: list[Path]) -> str:
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        level = None
        for line in path.read_text().splitlines():
            result = json.loads(line)
            level = result.get("target", level)
            rows[(_label(result, level), result["backend"])].append(result)
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
