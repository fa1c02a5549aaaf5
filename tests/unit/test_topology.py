"""The replication an operator asks for is what the keyspace and topics are made with."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.cassandra.session import keyspace_replication
from infra.kafka.admin import min_in_sync
from infra.settings import Settings


def test_one_machine_keeps_simple_strategy() -> None:
    assert keyspace_replication(1, None) == (
        "{'class': 'SimpleStrategy', 'replication_factor': 1}")


def test_a_named_data_centre_gets_network_topology() -> None:
    assert keyspace_replication(3, "dc_hcm-1") == (
        "{'class': 'NetworkTopologyStrategy', 'dc_hcm-1': 3}")


def test_a_data_centre_name_cannot_carry_cql() -> None:
    with pytest.raises(ValueError, match="data centre"):
        keyspace_replication(3, "dc1': 1}; DROP KEYSPACE truc; --")
    with pytest.raises(ValidationError):
        Settings(cassandra_datacenter="dc1'}")


@pytest.mark.parametrize(("replication", "isr"), [(1, 1), (2, 2), (3, 2), (5, 3)])
def test_acknowledged_writes_need_a_majority_of_replicas(replication: int, isr: int) -> None:
    assert min_in_sync(replication) == isr


def test_replication_below_one_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(replication=0)
