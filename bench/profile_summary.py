"""Where a profiled hub's busy time went, from a pyinstrument session.

Two tables, as shares of the event loop thread's busy time (idle = waiting in
``epoll``/``select``; start-up imports left out):

- by *area* of the function running when sampled: the hub's own packages (``hub``,
  ``api``, ``infra``, ``streams``), each library, each stdlib module, each builtin;
- by *hub entry point*: the outermost frame of the hub's own code in the stack (the route,
  the dependency, the processor or notifier loop) — inclusive of all it calls.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from pyinstrument.session import Session

OWN = ("hub", "api", "infra", "streams")
IDLE = {"epoll.poll", "select", "EpollSelector.select", "poll"}
SITE = re.compile(r"site-packages/([^/]+)/")
STDLIB = re.compile(r"python3\.\d+/(?:asyncio/)?([^/]+?)(?:\.py)?$")


def _parts(frame: str) -> tuple[str, str]:
    function, path = frame.split("\x00")[:2]
    return function, path


def area(frame: str) -> str:
    function, path = _parts(frame)
    if path == "<built-in>":
        return f"builtin {function}"
    if found := SITE.search(path):
        return found.group(1)
    for own in OWN:
        if f"/{own}/" in path or path.startswith(f"{own}/") or path.startswith(f"../{own}/"):
            return own
    if "asyncio/" in path:
        return "asyncio"
    found = STDLIB.search(path)
    return f"stdlib {found.group(1)}" if found else path


def entry(stack: list[str]) -> str | None:
    for frame in stack:
        if area(frame) in OWN:
            function, path = _parts(frame)
            return f"{function} ({Path(path).parent.name}/{Path(path).name})"
    return None


def summarize(session_file: Path, top: int = 15) -> str:
    session = Session.load(str(session_file))
    by_area: defaultdict[str, float] = defaultdict(float)
    by_entry: defaultdict[str, float] = defaultdict(float)
    idle = 0.0
    startup = 0.0
    for stack, seconds in session.frame_records:
        leaf = _parts(stack[-1])[0]
        if leaf in IDLE:
            idle += seconds
        elif any("importlib._bootstrap" in f for f in stack):
            startup += seconds
        else:
            by_area[area(stack[-1])] += seconds
            by_entry[entry(stack) or "(libraries only: server, loop, framework)"] += seconds
    busy = sum(by_area.values())
    lines = [f"duration {session.duration:.1f} s, busy {busy:.1f} s, idle {idle:.1f} s, "
             f"start-up {startup:.1f} s (event loop thread)", "", "self time by area:"]
    lines += [f"  {s / busy:6.1%} {s:7.2f} s  {name}" for name, s in _top(by_area, top)]
    lines += ["", "inclusive time by hub entry point:"]
    lines += [f"  {s / busy:6.1%} {s:7.2f} s  {name}" for name, s in _top(by_entry, top)]
    return "\n".join(lines) + "\n"


def _top(times: dict[str, float], count: int) -> list[tuple[str, float]]:
    return sorted(times.items(), key=lambda item: -item[1])[:count]
