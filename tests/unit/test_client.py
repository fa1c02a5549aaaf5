"""The client's own rules, without a hub: how long it waits for a seal."""

from __future__ import annotations

from api.client import SEAL_MIB_PER_S, seal_timeout

GiB = 2**30


def test_small_packages_seal_within_the_default_wait() -> None:
    assert seal_timeout(10 * 1024, 30) == 30


def test_a_large_package_gets_time_for_the_hub_to_read_it_back() -> None:
    waited = seal_timeout(GiB, 30)
    assert waited == GiB / (SEAL_MIB_PER_S * 2**20) == 256
    assert waited > 40, "a 1 GiB seal took 40 s on a loaded Kafka + Cassandra hub"
