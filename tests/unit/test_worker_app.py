"""The Faust app's identity: its consumer group follows the topic prefix."""

from __future__ import annotations

from infra.settings import Settings
from streams.app import create_worker_app


def test_hubs_sharing_a_cluster_never_share_a_consumer_group() -> None:
    first = create_worker_app(Settings(kafka="k:9092", cassandra="c:9042",
                                       topic_prefix="truc."))
    second = create_worker_app(Settings(kafka="k:9092", cassandra="c:9042",
                                        topic_prefix="tinh-b."))
    assert first.conf.id == "truc.worker"
    assert second.conf.id == "tinh-b.worker"
    assert first.conf.broker_session_timeout == 10.0


def test_the_worker_runs_the_presence_processor_and_its_watchdog_timer() -> None:
    app = create_worker_app(Settings(kafka="k:9092", cassandra="c:9042"))
    assert "truc.presence" in app.agents
    assert [t.__name__ for t in app._app_tasks] == ["sweep"]  # the watchdog's timer
