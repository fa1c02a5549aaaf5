"""Large content: one package uploaded and downloaded through the client, against the
same bytes over loopback HTTP to an app that does nothing (``bench.null_app``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.client import TrucClient, TrucError
from bench.config import MiB
from bench.hubproc import Hub, Key, client, free_port, stop, wait_healthy
from bench.rss import RssSampler


@dataclass
class Transfer:
    seconds: float
    rss_before: int
    rss_growth: int
    phases: dict[str, float]

    def mib_s(self, size: int) -> float:
        return size / MiB / self.seconds


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))


async def through_hub(hub: Hub, source: Key, dest: Key, path: Path, size: int
                      ) -> tuple[Transfer, Transfer]:
    target = path.with_suffix(".down")
    async with client(hub, source, timeout=600) as src, client(hub, dest, timeout=600) as dst:
        marks: list[float] = []
        began = time.perf_counter()
        with RssSampler(hub.pid) as up_rss:
            sealed = await src.send([dest["code"]], "Large", path,
                                    progress=lambda _: marks.append(time.perf_counter()))
        ended = time.perf_counter()
        first, last = (marks[0], marks[-1]) if marks else (began, ended)
        up = Transfer(ended - began, up_rss.before, up_rss.growth, {
            "digest_and_request_s": round(first - began, 2),
            "chunks_s": round(last - first, 2), "seal_s": round(ended - last, 2),
            "chunks_mib_s": round(size / MiB / max(last - first, 1e-9), 1)})
        began = time.perf_counter()
        with RssSampler(hub.pid) as down_rss:
            digest = await dst.fetch(sealed["package_id"], target)
        down = Transfer(time.perf_counter() - began, down_rss.before, down_rss.growth, {})
        if digest != sealed["sha256"]:
            raise RuntimeError("downloaded content differs")
        down.phases.update(await acknowledge(dst, sealed["package_id"], digest))
    target.unlink(missing_ok=True)
    return up, down


async def acknowledge(dst: TrucClient, package_id: str, digest: str) -> dict[str, Any]:
    """Acknowledges, then waits until the content is shredded; a refusal is reported."""
    began = time.perf_counter()
    facts: dict[str, Any] = {}
    try:
        await dst.ack(package_id, digest)
    except TrucError as refused:
        facts["ack_refused"] = f"{refused.status} {refused.code}"
    facts["ack_answered_s"] = round(time.perf_counter() - began, 2)
    for _ in range(3000):  # polls the hub for up to ten minutes
        if (await dst.package(package_id))["shredded"]:
            facts["ack_to_shredded_s"] = round(time.perf_counter() - began, 2)
            break
        await asyncio.sleep(0.2)
    return facts


@contextmanager
def null_server(tmp: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bench.null_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    with (tmp / "null_app.log").open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)  # the null app answers GET /healthz with 200 too
        yield url, proc.pid
    finally:
        stop([proc])


async def through_null(url: str, pid: int, path: Path, size: int) -> tuple[Transfer, Transfer]:
    """The client's own pattern: PUT 1 MiB chunks read with to_thread; stream the download
    with aiter_bytes(1 MiB) and write each part with to_thread."""
    target = path.with_suffix(".null")
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        began = time.perf_counter()
        with RssSampler(pid) as up_rss, path.open("rb") as source:
            for index in range(size // MiB):
                chunk = await asyncio.to_thread(source.read, MiB)
                response = await http.put(f"/chunks/{index}", content=chunk)
                response.raise_for_status()
        up = Transfer(time.perf_counter() - began, up_rss.before, up_rss.growth, {})
        began = time.perf_counter()
        with RssSampler(pid) as down_rss, target.open("wb") as out:
            async with http.stream("GET", "/blob", params={"size": str(size)}) as response:
                async for part in response.aiter_bytes(MiB):
                    await asyncio.to_thread(out.write, part)
        down = Transfer(time.perf_counter() - began, down_rss.before, down_rss.growth, {})
    target.unlink(missing_ok=True)
    return up, down


def figures(t: Transfer, size: int) -> dict[str, Any]:
    return {"mib_s": round(t.mib_s(size), 1), "seconds": round(t.seconds, 2),
            "rss_before_mib": round(t.rss_before / MiB, 1),
            "rss_growth_mib": round(t.rss_growth / MiB, 1), **t.phases}
