"""Where one package's time goes: one source and one destination, one package after the
other, each call of the exchange timed on its own (what ``TrucClient.send`` does, step by
step, then the notice, the fetch and the acknowledgement)."""

from __future__ import annotations

import base64
import hashlib
import os
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

from api.client import TrucClient
from bench.hubproc import Hub, Key, client

STEPS = ("request", "space", "chunk", "seal", "notice_after_seal", "fetch", "ack")
ONE_CALL_STEPS = ("send_in_one_call", "one_call_notice", "one_call_fetch", "one_call_ack")
"""The same package sent in one call (``POST /v1/packages/send``), then received alike:
timed in the same loop, one package of each kind after the other."""


async def step_times(hub: Hub, source: Key, dest: Key, tmp: Path, *, packages: int,
                     size: int) -> dict[str, Any]:
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    times: dict[str, list[float]] = defaultdict(list)
    async with client(hub, source) as src, client(hub, dest) as dst:
        notices = cast(AsyncGenerator[dict[str, Any], None], dst.watch())
        await anext(notices)  # hello
        for _ in range(packages):
            marks = [time.perf_counter()]
            space = await src.call("POST", "/v1/packages", json_body={
                "recipients": [dest["code"]], "title": "Bench", "data_type": "binary",
                "size": size, "sha256": digest}, headers={"idempotency-key": os.urandom(8).hex()})
            pid = space["package_id"]
            marks.append(time.perf_counter())
            await src.call("GET", f"/v1/packages/{pid}/space")
            marks.append(time.perf_counter())
            await src.request("PUT", f"/v1/packages/{pid}/chunks/0", content=data,
                              headers={"x-chunk-sha256": digest,
                                       "content-type": "application/octet-stream"})
            marks.append(time.perf_counter())
            await src.call("POST", f"/v1/packages/{pid}/seal", json_body={})
            marks.append(time.perf_counter())
            await receive(pid, notices, dst, tmp, marks)
            for name, began, ended in zip(STEPS, marks, marks[1:], strict=False):
                times[name].append(ended - began)
            await one_call(src, dst, notices, dest=dest, data=data, digest=digest, tmp=tmp,
                           times=times)
        await notices.aclose()
    return {f"{name}_ms": round(statistics.median(times[name]) * 1000, 1)
            for name in (*STEPS, *ONE_CALL_STEPS)}


async def one_call(src: TrucClient, dst: TrucClient,
                   notices: AsyncGenerator[dict[str, Any], None], *, dest: Key, data: bytes,
                   digest: str, tmp: Path, times: dict[str, list[float]]) -> None:
    marks = [time.perf_counter()]
    sent = await src.call("POST", "/v1/packages/send", json_body={
        "recipients": [dest["code"]], "title": "Bench", "data_type": "binary",
        "sha256": digest, "content_base64": base64.b64encode(data).decode()},
        headers={"idempotency-key": os.urandom(8).hex()})
    pid = sent["package_id"]
    marks.append(time.perf_counter())
    await receive(pid, notices, dst, tmp, marks)
    for name, began, ended in zip(ONE_CALL_STEPS, marks, marks[1:], strict=False):
        times[name].append(ended - began)


async def receive(pid: str, notices: AsyncGenerator[dict[str, Any], None], dst: TrucClient,
                  tmp: Path, marks: list[float]) -> None:
    """The destination's side, timed alike for both ways of sending: the notice, the
    fetch and the acknowledgement (a mark after each)."""
    async for notice in notices:
        if notice.get("type") == "package.available" and notice["package_id"] == pid:
            break
    marks.append(time.perf_counter())
    target = tmp / f"step-{pid}.bin"
    fetched = await dst.fetch(pid, target)
    target.unlink()
    marks.append(time.perf_counter())
    await dst.ack(pid, fetched)
    marks.append(time.perf_counter())
