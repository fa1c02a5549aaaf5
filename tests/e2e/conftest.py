"""End-to-end fixtures: a hub per test module and backend, with an admin operator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hubs import RunningHub, running_hub

BACKENDS = ["embedded", pytest.param("distributed", marks=pytest.mark.engines)]


@contextmanager
def backend_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                name: str, **settings: str) -> Iterator[RunningHub]:
    """A hub on the backend the fixture is parametrized with, with extra ``TRUC_*``
    settings, for modules that need a hub configured their own way."""
    engines = request.getfixturevalue("engines") if request.param == "distributed" else None
    tmp: Path = tmp_path_factory.mktemp(f"{name}-{request.param}")
    with running_hub(request.param, tmp, engines, **settings) as running:
        yield running


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "hub") as running:
        yield running


@pytest.fixture(scope="module")
def admin_key(hub: RunningHub) -> dict[str, Any]:
    """The first operator, made locally with the CLI as a provincial IT centre would."""
    hub.ops("GET", "/v1/ops/agencies")  # the first call makes the admin with the CLI
    assert hub.admin_key is not None
    return hub.admin_key
