"""The ``/metrics`` text from one reading of the hub, and the sample Grafana dashboard
asking only for series the hub exports."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from api.metrics import REQUEST_SECONDS, REQUESTS, exposition
from api.overview import Lag, Overview

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


def seen() -> Overview:
    return Overview(appended={("packages", 0): 10, ("packages", 1): 4},
                    lags=[Lag("history", "packages", 0, 7, 10),
                          Lag("history", "packages", 1, 9, 4)],
                    dead_letters={"statistics": 2}, agencies=3, online=1, connections=2,
                    packages=Counter({"sealed": 2, "completed": 5}),
                    deliveries=Counter({"acknowledged": 4}), bytes_held=2048)


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    REQUESTS.labels("GET", "/healthz", "200").inc()
    REQUEST_SECONDS.labels("GET", "/healthz").observe(0.003)
    text = exposition(seen()).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_state_of_the_hub_as_series() -> None:
    found = samples()
    lag = ("truc_processor_lag_events",
           (("partition", "0"), ("processor", "history"), ("topic", "packages")))
    assert found[lag] == 3
    assert found[("truc_processor_lag_events", (("partition", "1"), ("processor", "history"),
                                                ("topic", "packages")))] == 0, "never negative"
    assert found[("truc_events_appended_total", (("partition", "0"), ("topic", "packages")))] == 10
    assert found[("truc_dead_letters", (("processor", "statistics"),))] == 2
    assert found[("truc_packages", (("state", "completed"),))] == 5
    assert found[("truc_content_bytes", ())] == 2048
    assert found[("truc_agencies_online", ())] == 1
    assert not [name for name, _ in found if name.endswith("_created")]


def test_the_grafana_dashboard_asks_only_for_exported_series() -> None:
    exported = {name for name, _ in samples()}
    exported |= {n.removesuffix("_total") for n in exported}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    asked = {m for p in panels for t in p["targets"] for m in re.findall(r"truc_\w+", t["expr"])}
    assert len(asked) >= 10
    assert asked <= exported, asked - exported
