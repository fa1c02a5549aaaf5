"""The short fault suite (docs/reliability.md), in CI: one kill -9 of each component
mid-load — Kafka, Cassandra, the Faust worker, an API node, the embedded hub — with 40
packages A → B; nothing lost, doubled, stuck or left unshredded, and `truc replay` equal.

It kills engines, so it runs on engines of its own (``.engines-faults-test/``, ports
29192/29193/29142/27100), never the shared ones, started here and stopped (and wiped) at
the end of the module, even when a test fails. Every test is one whole run; the runs share
the engines, so they stay in this one file (``--dist loadfile`` keeps them in sequence).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.config import QUICK, REPO
from faults.engines import Engines
from faults.run import run_one

TEST_ENGINES = {
    "TRUC_ENGINES_HOME": str(REPO / ".engines-faults-test"),
    "TRUC_KAFKA_PORT": "29192",
    "TRUC_KAFKA_CONTROLLER_PORT": "29193",
    "TRUC_CASSANDRA_PORT": "29142",
    "TRUC_CASSANDRA_STORAGE_PORT": "27100",
}
DISTRIBUTED = [pytest.param(c, marks=pytest.mark.engines)
               for c in ("kafka", "cassandra", "worker", "api")]


@pytest.fixture(scope="module")
def fault_engines() -> Iterator[Engines]:
    engines = Engines(dict(TEST_ENGINES))
    try:
        engines.up()
        yield engines
    finally:
        engines.script("down", "--wipe", "all")


def verdict(result: dict[str, object]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=1)


@pytest.mark.timeout(600)
async def test_a_kill_of_the_embedded_hub_loses_nothing(tmp_path: Path) -> None:
    result = await run_one("embedded", 1, QUICK, None, tmp_path / "run")
    print(json.dumps(result))  # the run's line, as `make faults` prints it (pytest -rA)
    assert result["sealed"] == QUICK.packages, verdict(result)
    assert result["problems"] == [], verdict(result)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("component", DISTRIBUTED)
async def test_a_kill_mid_load_loses_nothing(component: str, fault_engines: Engines,
                                             tmp_path: Path) -> None:
    result = await run_one(component, 1, QUICK, fault_engines, tmp_path / "run")
    print(json.dumps(result))
    assert result["sealed"] == QUICK.packages, verdict(result)
    assert result["problems"] == [], verdict(result)
