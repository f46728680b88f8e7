"""compose.yaml must run the versions stack/versions.env pins for the native stack."""

import re

from outboxkit.base.settings import read_env_file
from services import ROOT
from tests.unit.fakes import offline_stack_context

VERSIONS = read_env_file(ROOT / "stack" / "versions.env")
COMPOSE = (ROOT / "compose.yaml").read_text()


def image_tag(image: str) -> str:
    match = re.search(rf"image: {re.escape(image)}:(\S+)", COMPOSE)
    assert match, f"{image} not in compose.yaml"
    return match.group(1)


def test_compose_images_match_the_pinned_versions():
    assert image_tag("apache/kafka") == VERSIONS["KAFKA_VERSION"]
    assert image_tag("quay.io/debezium/connect") == VERSIONS["DEBEZIUM_VERSION"]
    assert image_tag("apicurio/apicurio-registry") == VERSIONS["APICURIO_VERSION"]
    assert image_tag("mysql") == VERSIONS["MYSQL_IMAGE_VERSION"]


def test_compose_writes_no_password_and_binds_to_loopback():
    for line in COMPOSE.splitlines():
        if "PASSWORD:" in line:
            assert "${" in line and ":?" in line, line
    ports = re.findall(r'- "([^"]+)"', COMPOSE)
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert {p.split(":")[1] for p in ports} == {"3307", "9092", "8081", "8083", "9404"}


def compose_service_block(name: str) -> str:
    match = re.search(rf"^  {name}:\n(.*?)(?=^  \S|^volumes:)", COMPOSE, re.S | re.M)
    assert match, f"no service {name} in compose.yaml"
    return match.group(1)


def test_compose_kafka_has_the_native_brokers_settings_and_keeps_its_data_on_the_volume():
    from devstack.components.kafka import Kafka

    native = Kafka(offline_stack_context()).settings()
    block = compose_service_block("kafka")
    env = {
        key[len("KAFKA_") :].lower().replace("_", "."): value.strip().strip('"')
        for key, value in re.findall(r"^\s+(KAFKA_[A-Z_]+):\s*(.+)$", block, re.M)
    }
    shared = [
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "min.insync.replicas",
        "default.replication.factor",
        "num.partitions",
        "auto.create.topics.enable",
        "group.initial.rebalance.delay.ms",
    ]
    assert {k: env.get(k) for k in shared} == {k: str(native[k]) for k in shared}
    volume = re.search(r"- kafka-data:(\S+)", block)
    assert volume and env.get("log.dirs") == volume.group(1)  # the broker writes where the volume is


def test_the_local_images_of_compose_local_yaml_are_the_ones_stack_images_builds():
    from devstack.images import ImageBuilder

    override = (ROOT / "compose.local.yaml").read_text()
    tags = ImageBuilder(offline_stack_context()).tags()
    used = dict(re.findall(r"^  (\w+):\n    image: (\S+)", override, re.M))
    assert used == {
        "mysql": tags["mysql"],
        "kafka": tags["kafka"],
        "registry": tags["registry"],
        "connect": tags["connect"],
    }
    assert tags["kafka"].endswith(f":{VERSIONS['KAFKA_VERSION']}")
    assert tags["connect"].endswith(f":{VERSIONS['DEBEZIUM_VERSION']}")
    assert tags["registry"].endswith(f":{VERSIONS['APICURIO_VERSION']}")
    assert override.count("pull_policy: never") == 4  # never a public image by mistake


def test_compose_connect_has_the_native_workers_exactly_once_and_rebalance_settings():
    from devstack.components.connect import Connect

    native = Connect(offline_stack_context()).settings()
    block = compose_service_block("connect")
    env = {
        key[len("CONNECT_") :].lower().replace("_", "."): value.strip().strip('"')
        for key, value in re.findall(r"^\s+(CONNECT_[A-Z_]+):\s*(.+)$", block, re.M)
    }
    for key in (
        "exactly.once.source.support",
        "scheduled.rebalance.max.delay.ms",
        "session.timeout.ms",
        "heartbeat.interval.ms",
    ):
        assert env.get(key) == str(native[key]), key


def test_the_compose_cluster_has_the_native_clusters_settings_and_local_images():
    from devstack.components.kafka import Kafka
    from devstack.config import Topology
    from devstack.images import ImageBuilder

    text = (ROOT / "compose.cluster.yaml").read_text()
    shared = text.split("x-cluster-kafka: &cluster-kafka\n", 1)[1].split("\n\n", 1)[0]
    env = {
        k[len("KAFKA_") :].lower().replace("_", "."): v.strip().strip('"')
        for k, v in re.findall(r"^\s+(KAFKA_[A-Z_]+):\s*(.+)$", shared, re.M)
    }
    topology = Topology(3)
    native = Kafka(offline_stack_context(topology), topology, 1).settings()
    for key in (
        "default.replication.factor",
        "min.insync.replicas",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "unclean.leader.election.enable",
        "broker.session.timeout.ms",
        "broker.heartbeat.interval.ms",
    ):
        assert env[key] == str(native[key]), key
    assert env["controller.quorum.voters"].count("@") == 3
    for node in ("kafka", "kafka-2", "kafka-3"):  # every node takes the shared settings
        block = text.split(f"\n  {node}:\n", 1)[1].split("\n\n", 1)[0]
        assert "<<: *cluster-kafka" in block, node
    local = (ROOT / "compose.cluster.local.yaml").read_text()
    tags = ImageBuilder(offline_stack_context()).tags()
    assert dict(re.findall(r"^  ([\w-]+):\n    image: (\S+)", local, re.M)) == {
        "kafka-2": tags["kafka"],
        "kafka-3": tags["kafka"],
        "connect-2": tags["connect"],
    }
