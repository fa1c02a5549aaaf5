"""The table of docs/reliability.md, from the runs' JSON lines."""

from __future__ import annotations

from typing import Any

HEAD = ("| component | run | sent | delivered | acked | lost | doubled | stuck "
        "| unshredded | client errors | recovery s | pause s | drain s "
        "| replay exit (stats/history) | verdict |")


def errors(found: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{n}" for k, n in found.items()) or "—"


def row(r: dict[str, Any]) -> str:
    if "sent" not in r:  # the run broke before the checks
        return f"| {r['component']} | {r['run']} |" + " |" * 13 + f" **FAIL** {r['problems']} |"
    replays = "/".join(str(v["exit"]) for v in r["replays"].values())
    verdict = "ok" if r["ok"] else "**FAIL** " + ", ".join(r["problems"])
    return (f"| {r['component']} | {r['run']} | {r['sent']} | {r['delivered']} | {r['acked']} "
            f"| {r['lost']} | {r['doubled']} | {r['stuck']} | {r['unshredded']} "
            f"| {errors(r['errors'])} | {_or_dash(r['recovery_s'])} "
            f"| {_or_dash(r.get('pause_s'))} | {_or_dash(r['drain_s'])} "
            f"| {replays} "
            f"| {verdict} |")


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)


def table(results: list[dict[str, Any]]) -> str:
    sep = "|" + "---|" * (HEAD.count("|") - 1)
    return "\n".join([HEAD, sep, *(row(r) for r in results)])


def main(paths: list[str]) -> None:
    """``python -m faults.report runs.jsonl…``: the table from saved JSON lines."""
    import json
    from pathlib import Path

    results = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines()
               if line.startswith("{")]
    print(table(results))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
