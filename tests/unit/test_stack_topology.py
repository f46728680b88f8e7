"""The stack's topology: one node, or a three-broker cluster with two Connect workers (pure)."""

from __future__ import annotations

import pytest

from devstack.components.connect import Connect
from devstack.components.kafka import Kafka
from devstack.config import Topology, state_paths
from devstack.stackenv import endpoint_values
from tests.unit.fakes import offline_stack_context

PATHS = state_paths("/nonexistent/offline-state")


def test_a_single_node_keeps_one_replica_of_everything():
    settings = Kafka(offline_stack_context(), Topology(1)).settings()
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert (settings["default.replication.factor"], settings["min.insync.replicas"]) == (1, 1)
    assert "unclean.leader.election.enable" not in settings  # the compose file's single node matches


def test_a_cluster_has_three_voters_three_replicas_two_in_sync_and_no_unclean_leaders():
    topology = Topology(3)
    nodes = [Kafka(offline_stack_context(topology), topology, n) for n in (1, 2, 3)]
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [n.ports for n in nodes] == [(9092, 9093), (9094, 9095), (9096, 9097)]
    for node in nodes:
        s = node.settings()
        assert s["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
        assert s["node.id"] == node.node
        for key in (
            "default.replication.factor",
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "share.coordinator.state.topic.replication.factor",
        ):
            assert s[key] == 3, key
        for key in (
            "min.insync.replicas",
            "transaction.state.log.min.isr",
            "share.coordinator.state.topic.min.isr",
        ):
            assert s[key] == 2, key
        assert s["unclean.leader.election.enable"] == "false"


def test_a_cluster_runs_two_connect_workers_in_one_group_with_durable_internal_topics():
    topology = Topology(3)
    workers = [Connect(offline_stack_context(topology), topology, w) for w in (1, 2)]
    assert [(w.name, w.url) for w in workers] == [
        ("connect-1", "http://127.0.0.1:8083"),
        ("connect-2", "http://127.0.0.1:8084"),
    ]
    first, second = (w.settings() for w in workers)
    assert first["group.id"] == second["group.id"]
    assert first["bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    for key in (
        "config.storage.replication.factor",
        "offset.storage.replication.factor",
        "status.storage.replication.factor",
    ):
        assert first[key] == 3
    assert first["exactly.once.source.support"] == "enabled"
    assert int(first["scheduled.rebalance.max.delay.ms"]) <= 10_000  # a dead worker's tasks move fast


def test_stack_env_records_the_topology_and_every_endpoint():
    values = endpoint_values(PATHS, Topology(3))
    assert values["STACK_BROKERS"] == "3"
    assert values["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert values["CONNECT_URL"] == "http://127.0.0.1:8083,http://127.0.0.1:8084"


def test_only_one_or_three_brokers_are_offered():
    with pytest.raises(ValueError, match="runs 1 or 3 Kafka brokers, not 2"):
        Topology(2)
