"""The checker: invariants over the whole history, the event log and raw storage.

- every package sealed (the source was told so, or the log says so) is acknowledged by
  the destination — else **lost**;
- no delivery is acknowledged twice (two ``DeliveryAcknowledged`` with different ids, or
  two acks the destination was told succeeded) — else **doubled**; one send request is one
  ``PackageRequested`` — else **requested twice**;
- every sealed package is ``completed`` when the run ends — else **stuck**; and its content
  rows and data key are gone from storage — else **unshredded**;
- what the destination received has the digest the source sent — else **corrupt**;
- every package is sealed (the source tries each at least once and retries until
  ``give_up_after`` past the restart) — else **unsent** (the hub did not recover);
- ``truc replay`` of every projection exits 0 — else **replay differs**.

Operations with an unknown outcome (``info``) are resolved from the log: a send whose
package is sealed there happened, one whose package is not did not.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from faults.history import History
from faults.load import Destination, Package
from faults.storage import Logged


def check(packages: list[Package], history: History, dest: Destination, *,
          logged: dict[str, Logged], states: dict[str, str], left: dict[str, int],
          replays: dict[str, dict[str, Any]]) -> dict[str, Any]:
    told = {p.pid for p in packages if p.package_id}
    sealed = told | {p.pid for p in packages if logged.get(p.pid, Logged()).sealed}
    acked = {pid for pid in sealed if logged.get(pid, Logged()).acks or pid in dest.acked}
    expected = {p.pid: p.sha256 for p in packages}
    fetched = {o.key for o in history.of("fetch", "ok") if o.value == expected.get(o.key)}
    corrupt = {o.key for o in history.of("fetch", "ok") if o.value != expected.get(o.key)}
    ack_oks = Counter(o.key for o in history.of("ack", "ok"))
    doubled = {pid for pid, one in logged.items() if len(one.acks) > 1} | {
        pid for pid, n in ack_oks.items() if n > 1}
    counts = {
        "sent": len(told),
        "sealed": len(sealed),
        "delivered": len(fetched & sealed),
        "acked": len(acked),
        "lost": len(sealed - acked),
        "doubled": len(doubled),
        "requested_twice": sum(len(one.requested) > 1 for one in logged.values()),
        "stuck": sum(states.get(pid) != "completed" for pid in sealed),
        "unshredded": sum(left.get(pid, 1) > 0 for pid in sealed
                          if states.get(pid) == "completed"),
        "corrupt": len(corrupt),
        "unsent": len(packages) - len(sealed),
        "sealed_not_in_log": len({pid for pid in told if not logged.get(pid, Logged()).sealed}),
        "gone_before_ack": len(dest.gone - acked),
    }
    unknown = _resolve(history, {p.key: p.pid for p in packages}, sealed, acked)
    problems = [name for name in ("lost", "doubled", "requested_twice", "stuck", "unshredded",
                                  "corrupt", "unsent", "sealed_not_in_log") if counts[name]]
    problems += [f"replay {p} exit {r['exit']}" for p, r in replays.items() if r["exit"] != 0]
    return {**counts, "unknown": unknown, "errors": history.errors(),
            "ops": dict(Counter(f"{o.f}:{o.type}" for o in history.ops)),
            "replays": replays,
            "examples": _examples(sealed, acked, doubled, states=states, left=left,
                                  logged=logged),
            "problems": problems, "ok": not problems}


def _resolve(history: History, pids: dict[str, str], sealed: set[str],
             acked: set[str]) -> dict[str, int]:
    """Operations whose answer was lost, and what the log says became of them: a send is
    resolved by its package (the id the hub derives from the Idempotency-Key) being
    sealed, an ack by the delivery being acknowledged."""
    out: Counter[str] = Counter()
    for op in history.ops:
        if op.type != "info" or op.f not in ("send", "ack"):
            continue
        done = pids.get(op.key) in sealed if op.f == "send" else op.key in acked
        out[f"{op.f}_{'applied' if done else 'not_applied'}"] += 1
    return dict(out)


def _examples(sealed: set[str], acked: set[str], doubled: set[str], *,
              states: dict[str, str], left: dict[str, int], logged: dict[str, Logged]
              ) -> dict[str, list[str]]:
    """A few package ids per problem, with what the log holds, for the investigation."""
    def show(pids: set[str]) -> list[str]:
        out = []
        for pid in sorted(pids)[:3]:
            one = logged.get(pid, Logged())
            out.append(f"{pid} state={states.get(pid)} planned={one.planned} "
                       f"fetched={one.fetched} acks={one.ack_records} "
                       f"shredded={one.shredded} left={left.get(pid)}")
        return out

    return {k: v for k, v in {
        "lost": show(sealed - acked), "doubled": show(doubled),
        "stuck": show({p for p in sealed if states.get(p) != "completed"}),
        "unshredded": show({p for p in sealed if states.get(p) == "completed"
                            and left.get(p, 1) > 0}),
    }.items() if v}
