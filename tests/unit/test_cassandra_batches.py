"""The projections' atomic batches fit the Cassandra the hub ships a configuration for.

Each event's rows and the processor's offset go in one LOGGED batch (exactly-once), and a
package's row grows with its recipients and timeline. Cassandra's defaults (warn 5KiB,
fail 50KiB) filled the worker's log with warnings and refused a package to ~50 agencies;
infra/engines/cassandra/cassandra.yaml raises both (see the comment there).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from hub.packages.model import Package, Step
from tests.unit.test_deadlines import sealed

YAML = Path(__file__).resolve().parents[2] / "infra" / "engines" / "cassandra" / "cassandra.yaml"
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2}


def threshold(name: str) -> int:
    match = re.search(rf"^{name}: (\d+)(B|KiB|MiB)$", YAML.read_text(), flags=re.M)
    assert match, f"{name} is not set in {YAML.name}"
    return int(match.group(1)) * UNITS[match.group(2)]


def package_row_bytes(recipients: int) -> int:
    """The package's row once every delivery went planned → notified → fetched → acked."""
    _, _, pkg = sealed()
    delivery = next(iter(pkg.deliveries.values()))
    step = pkg.timeline[-1]
    many: Package = replace(
        pkg,
        deliveries={f"{i:08d}-0000-4000-8000-000000000000": replace(
            delivery, agency_id=f"{i:08d}-0000-4000-8000-000000000000",
            code=f"000.{i % 100:02d}.{i // 100:02d}.H53") for i in range(recipients)},
        timeline=pkg.timeline + tuple(
            Step(f"{i:08d}-{n:04d}-4000-8000-000000000000", step.at, what,
                 f"{i:08d}-0000-4000-8000-000000000000")
            for i in range(recipients) for n, what in enumerate((
                "DeliveryPlanned", "DeliveryNotified", "DeliveryFetched",
                "DeliveryAcknowledged"))))
    return len(json.dumps(many.to_json(), default=str).encode())


def test_a_package_to_a_whole_province_fits_one_batch() -> None:
    assert package_row_bytes(60) > 50 * 1024, "Cassandra's default refused this batch"
    assert package_row_bytes(2000) < threshold("batch_size_fail_threshold")


def test_an_everyday_package_does_not_warn() -> None:
    assert package_row_bytes(5) > 5 * 1024, "Cassandra's default warned on this batch"
    assert package_row_bytes(100) < threshold("batch_size_warn_threshold")
    assert threshold("batch_size_warn_threshold") < threshold("batch_size_fail_threshold")
