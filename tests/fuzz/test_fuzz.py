"""The short form of the standing fuzz suite, run by `make test` (the long one is
`make fuzz`): schemathesis cases from the hub's own OpenAPI, signed after generation as an
app, as the destination's app, as an admin operator, and not signed at all, against one
embedded hub whose packages are real, then the explicit cases of tests/fuzz/corpus.py.
No answer may be ≥ 500, every error is a problem with a code, and the hub must still
exchange a package afterwards.

``TRUC_FUZZ_SHORT_CASES`` sets the budget (default 3000: about 1.5 min here).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hubs import RunningHub, running_hub
from tests.fuzz.corpus import CORPUS, run_corpus
from tests.fuzz.runner import Summary, run
from tests.fuzz.world import World, build_world, dead_letters, exchange_still_works, health

BUDGET = int(os.environ.get("TRUC_FUZZ_SHORT_CASES", "3000"))


@pytest.fixture(scope="module")
def fuzzed_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub("embedded", tmp_path_factory.mktemp("fuzz")) as hub:
        yield hub


@pytest.fixture(scope="module")
def world(fuzzed_hub: RunningHub) -> World:
    return build_world(fuzzed_hub)


@pytest.fixture(scope="module")
def summary(world: World) -> Summary:
    """The generated cases, then the explicit corpus (tests/fuzz/corpus.py)."""
    done = run(world, BUDGET)
    run_corpus(world, done)
    return done


@pytest.mark.timeout(900)
def test_every_identity_gets_its_share_of_the_budget(summary: Summary) -> None:
    assert summary.cases >= BUDGET + len(CORPUS)
    assert set(summary.by_identity) == {"app", "destination", "operator", "none"}
    assert min(summary.by_identity.values()) >= BUDGET // 8
    assert summary.generation_errors == []
    assert summary.by_status[200] > 0 and summary.by_status[401] > 0  # both sides reached


def test_no_answer_is_a_5xx_and_every_error_is_a_problem_with_a_code(
        summary: Summary) -> None:
    report = summary.as_json()
    assert report["status_5xx"] == 0 and summary.findings == [], json.dumps(
        report["distinct_findings"], indent=1, ensure_ascii=False)


async def test_the_hub_still_exchanges_a_package_after_the_fuzz(
        summary: Summary, world: World, fuzzed_hub: RunningHub) -> None:
    assert summary.cases > 0
    assert await exchange_still_works(world) == "completed"
    report = health(world.url)
    assert report.status_code == 200, report.text
    assert dead_letters(report.json()) == 0, report.text
    assert all(p.poll() is None for p in fuzzed_hub.procs)
    log = Path(fuzzed_hub.logs).read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback"):][:3000]
