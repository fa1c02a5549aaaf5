"""The Faust app's identity: its consumer group follows the topic prefix."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from infra.settings import Settings
from streams.app import create_worker_app, holds_first_packages_partition


def test_hubs_sharing_a_cluster_never_share_a_consumer_group() -> None:
    first = create_worker_app(Settings(kafka="k:9092", cassandra="c:9042",
                                       topic_prefix="truc."))
    second = create_worker_app(Settings(kafka="k:9092", cassandra="c:9042",
                                        topic_prefix="tinh-b."))
    assert first.conf.id == "truc.worker"
    assert second.conf.id == "tinh-b.worker"
    assert first.conf.broker_session_timeout == 10.0


class _Consumer:
    def __init__(self, assigned: set[tuple[str, int]] | None) -> None:
        self._assigned = assigned

    def assignment(self) -> set[Any]:
        if self._assigned is None:
            raise RuntimeError("no consumer yet")
        return {TP(topic, partition) for topic, partition in self._assigned}


def test_the_watchdog_runs_only_in_the_worker_holding_packages_partition_0() -> None:
    settings = Settings(kafka="k:9092", cassandra="c:9042", topic_prefix="tinh-b.")

    def leads(assigned: set[tuple[str, int]] | None) -> bool:
        return holds_first_packages_partition(SimpleNamespace(consumer=_Consumer(assigned)),
                                              settings)

    assert leads({("tinh-b.packages", 0), ("tinh-b.registry", 1)})
    assert not leads({("tinh-b.packages", 1), ("tinh-b.registry", 0)})
    assert not leads({("truc.packages", 0)}), "another hub's topic"
    assert not leads(None), "not started yet"


def test_the_worker_runs_the_presence_processor_and_its_watchdog_timer() -> None:
    app = create_worker_app(Settings(kafka="k:9092", cassandra="c:9042"))
    assert "truc.presence" in app.agents
    assert [t.__name__ for t in app._app_tasks] == ["sweep", "resume"]  # watchdog, outbox
