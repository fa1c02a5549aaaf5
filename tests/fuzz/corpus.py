"""Explicit cases the generator is unlikely to draw, sent after the generated ones: the
values that once stopped the hub (issue 10's findings 1, 2 and 9), each on a real package in
the state where the dangerous value is used. They run last because, where the hub lacks the
fix, they poison its log and every later request would be a 503, hiding other findings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from tests.fuzz.runner import Summary, send_case
from tests.fuzz.world import World

FAR_DEADLINE = "9999-12-31T23:59:59-00:01"  # in range as written, out of range in UTC


@dataclass(frozen=True)
class Explicit:
    """A request as an identity; ``{name}`` in the path is a world value (``ready_ids``
    are taken one per case, so each seal meets a package ready to be sealed)."""

    identity: str
    method: str
    path: str
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    raw_json: str | None = None  # a JSON text that Python's json would not write (surrogates)


CORPUS: tuple[Explicit, ...] = (  # those that poison the log of an unfixed hub come last
    Explicit("app", "POST", "/v1/packages", raw_json=(
        '{"recipients": ["{destination}"], "title": "C\\udcf4ng", "size": 10, "sha256": "'
        + "a" * 64 + '", "priority": "normal", "data_type": "binary"}')),
    Explicit("destination", "POST", "/v1/packages/{sealed}/status",
             raw_json='{"code": "01", "note": "C\\udcf4ng"}'),
    Explicit("destination", "GET", "/v1/packages/{fetched}/content",
             headers=(("range", "bytes=-0"),)),
    Explicit("operator", "POST", "/v1/ops/principals/{victim}/keys", {"overlap_hours": 4.76e16}),
    Explicit("app", "POST", "/v1/packages/{ready}/seal", {"offline_wait_seconds": 10**30}),
    Explicit("app", "POST", "/v1/packages/{ready}/seal", {"offline_wait_seconds": 10**17}),
    Explicit("app", "POST", "/v1/packages/{sealed}/deliveries/{destination}/extend",
             {"deadline": FAR_DEADLINE}),
    Explicit("app", "POST", "/v1/packages/{ready}/seal", {"deadline": FAR_DEADLINE}),
)

class _Case:
    """The little of a schemathesis case that ``send_case`` uses."""

    def __init__(self, method: str, path: str, kwargs: dict[str, Any]) -> None:
        self.method, self.path, self._kwargs = method, path, kwargs

    def as_transport_kwargs(self, base_url: str) -> dict[str, Any]:
        return {**self._kwargs, "url": f"{base_url}{self._kwargs['url']}"}


def run_corpus(world: World, summary: Summary) -> None:
    ready = list(world.ready_ids)
    with requests.Session() as session:
        for case in CORPUS:
            values = {"sealed": world.path_values["package_id"][0],
                      "fetched": world.path_values["package_id"][1],
                      "destination": world.destination["code"],
                      "victim": world.path_values["app_id"][0]}
            if "{ready}" in case.path:
                values["ready"] = ready.pop()
            path = case.path.format(**values)
            text = case.raw_json.replace("{destination}", values["destination"]) \
                if case.raw_json else (None if case.body is None else json.dumps(case.body))
            headers = dict(case.headers)
            if text is not None:
                headers["content-type"] = "application/json"
            kwargs = {"method": case.method, "url": path, "headers": headers,
                      "data": None if text is None else text.encode()}
            send_case(session, world, _Case(case.method, case.path, kwargs),
                      identity=case.identity, mode="explicit", chunk=None, summary=summary)
