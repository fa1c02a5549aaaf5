"""``/metrics``: the hub in Prometheus' text format.

Two kinds of series. Request rate and latency are counted as requests pass, in this
process (``api.observe``), under the route template. Everything else is read when
scraped, from the log and the projections (``api.overview``), so every node of a
distributed hub reports the same hub-wide values and a restart loses nothing: events
appended (the log's end offsets) and applied per processor (its tracking records), lag
per processor and partition, dead letters, agencies online and their connections,
packages and deliveries by state, content bytes held.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from api.overview import Overview

disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``*_created`` series: they double the scrape for nothing
REQUESTS_REGISTRY = CollectorRegistry(auto_describe=True)
"""This process's request series (not the library's default registry: no process or
platform collectors the hub did not ask for, and nothing shared with other libraries)."""
REQUESTS = Counter("truc_requests", "HTTP requests answered, by route template and status.",
                   ("method", "route", "status"), registry=REQUESTS_REGISTRY)
REQUEST_SECONDS = Histogram(
    "truc_request_seconds", "Time to answer an HTTP request, by route template.",
    ("method", "route"), registry=REQUESTS_REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CONTENT_TYPE = CONTENT_TYPE_LATEST
__all__ = ["CONTENT_TYPE", "REQUESTS", "REQUEST_SECONDS", "exposition"]


class Snapshot:
    """A collector over one ``Overview``, read just before the scrape is written."""

    def __init__(self, seen: Overview) -> None:
        self.seen = seen

    def collect(self) -> Iterator[Metric]:
        seen = self.seen
        appended = CounterMetricFamily("truc_events_appended", "Events in the log, per topic "
                                       "and partition (its end offset).",
                                       labels=("topic", "partition"))
        for (topic, partition), end in sorted(seen.appended.items()):
            appended.add_metric((topic, str(partition)), end)
        applied = CounterMetricFamily("truc_events_applied", "Events a processor has "
                                      "applied or set aside, per topic and partition.",
                                      labels=("processor", "topic", "partition"))
        lag = GaugeMetricFamily("truc_processor_lag_events", "Events appended that the "
                                "processor has not handled yet.",
                                labels=("processor", "topic", "partition"))
        for item in seen.lags:
            labels = (item.processor, item.topic, str(item.partition))
            applied.add_metric(labels, item.applied)
            lag.add_metric(labels, item.behind)
        yield from (appended, applied, lag)
        yield self._by("truc_dead_letters", "Events set aside as dead letters.", "processor",
                       seen.dead_letters)
        yield GaugeMetricFamily("truc_agencies", "Agencies registered.", value=seen.agencies)
        yield GaugeMetricFamily("truc_agencies_online", "Agencies with an app online now.",
                                value=seen.online)
        yield GaugeMetricFamily("truc_connections", "Apps' connections open now.",
                                value=seen.connections)
        yield self._by("truc_packages", "Packages requested this month or the last, by "
                       "state.", "state", seen.packages)
        yield self._by("truc_deliveries", "Deliveries of those packages, by state.", "state",
                       seen.deliveries)
        yield GaugeMetricFamily("truc_content_bytes", "Content bytes the hub holds "
                                "(packages uploading or sealed, not yet shredded).",
                                value=seen.bytes_held)

    @staticmethod
    def _by(name: str, text: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, text, labels=(label,))
        for key, n in sorted(values.items()):
            family.add_metric((key,), n)
        return family


def exposition(seen: Overview) -> bytes:
    """The request series of this process, then the hub's state as scraped."""
    state = CollectorRegistry(auto_describe=False)
    state.register(Snapshot(seen))
    return generate_latest(REQUESTS_REGISTRY) + generate_latest(state)
