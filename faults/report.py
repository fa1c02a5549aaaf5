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


SUMMARY = ("| component | runs | sent | delivered | acked | lost | doubled | requested twice "
           "| stuck | unshredded | recovery s | drain s | replays equal | runs ok |")
COUNTS = ("sent", "delivered", "acked", "lost", "doubled", "requested_twice", "stuck",
          "unshredded")


def summary(results: list[dict[str, Any]]) -> str:
    """One line per component: the counts summed over its runs, recovery and drain as
    min – max seconds, how many runs had both replays equal, how many passed."""
    lines = [SUMMARY, "|" + "---|" * (SUMMARY.count("|") - 1)]
    for component in dict.fromkeys(r["component"] for r in results):
        runs = [r for r in results if r["component"] == component]
        checked = [r for r in runs if "sent" in r]
        sums = " | ".join(str(sum(r[k] for r in checked)) for k in COUNTS)
        equal = sum(all(v["exit"] == 0 for v in r["replays"].values()) for r in checked)
        lines.append(f"| {component} | {len(runs)} | {sums} "
                     f"| {_span([r['recovery_s'] for r in checked])} "
                     f"| {_span([r['drain_s'] for r in checked])} "
                     f"| {equal}/{len(runs)} | {sum(bool(r['ok']) for r in runs)}/{len(runs)} |")
    return "\n".join(lines)


def _span(values: list[Any]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "—"
    low, high = min(known), max(known)
    return str(low) if low == high else f"{low} – {high}"


def main(paths: list[str]) -> None:
    """``python -m faults.report runs.jsonl…``: the tables from saved JSON lines."""
    import json
    from pathlib import Path

    results = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines()
               if line.startswith("{")]
    print(table(results))
    print()
    print(summary(results))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
