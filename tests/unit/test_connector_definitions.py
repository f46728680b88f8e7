import re

import pytest

from eventcore.base.topics import topic_for
from eventcore.cdc.connectors import MARIADB_CONNECTOR, MYSQL_CONNECTOR, Deployment, effective_config
from eventcore.service.roster import outbox_connectors

DEFINITIONS = outbox_connectors()


def test_one_connector_per_service_database():
    assert {d.database for d in DEFINITIONS} == {"order_db", "inventory_db", "payment_db", "points_db"}
    assert len({d.config["database.server.id"] for d in DEFINITIONS}) == len(DEFINITIONS)


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_connector_captures_only_its_outbox_through_the_router(definition):
    c = definition.config
    assert c["table.include.list"] == f"{definition.database}.outbox,{definition.database}.cdc_heartbeat"
    assert (definition.outbox_table, definition.heartbeat_table) == ("outbox", "cdc_heartbeat")
    # Its heartbeat query writes the table it captures (so ts_sec moves while nothing else does),
    # and those rows are dropped, not published.
    assert f"INTO {definition.database}.cdc_heartbeat" in c["heartbeat.action.query"]
    assert re.fullmatch(
        c["predicates.isHeartbeatTable.pattern"], f"{c['topic.prefix']}.{definition.database}.cdc_heartbeat"
    )
    assert c["transforms.dropHeartbeatRows.type"] == "org.apache.kafka.connect.transforms.Filter"
    assert c["transforms.outbox.type"] == "io.debezium.transforms.outbox.EventRouter"
    assert c["transforms.outbox.route.by.field"] == "aggregatetype"
    assert c["transforms.outbox.table.field.event.key"] == "aggregateid"
    assert c["value.converter"] == "io.debezium.converters.BinaryDataConverter"
    assert c["snapshot.mode"] == "no_data"
    assert c["tombstones.on.delete"] == "false"
    assert int(c["poll.interval.ms"]) <= 50
    assert c["producer.override.acks"] == "all"
    assert c["producer.override.enable.idempotence"] == "true"
    assert "heartbeat.interval.ms" in c
    # The router's topic names are the ones the Python side derives.
    assert c["transforms.outbox.route.topic.replacement"].replace("${routedByValue}", "x") == topic_for("x")
    # The predicate matches the outbox table's raw topic, so heartbeats pass untouched.
    raw_topic = f"{c['topic.prefix']}.{definition.database}.outbox"
    assert re.fullmatch(c["predicates.isOutboxTable.pattern"], raw_topic)


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_no_secret_is_written_in_the_json(definition):
    for key, value in definition.config.items():
        if "password" in key:
            assert value.startswith("${env:") or value.startswith("${file:"), key


def test_effective_config_fills_deployment_and_picks_the_class():
    deployment = Deployment("mysql", 3306, "kafka:29092")
    mariadb = effective_config(DEFINITIONS[0], deployment, is_mariadb=True)
    mysql = effective_config(DEFINITIONS[0], deployment, is_mariadb=False)
    assert mariadb["connector.class"] == MARIADB_CONNECTOR
    assert mysql["connector.class"] == MYSQL_CONNECTOR
    assert mysql["database.hostname"] == "mysql"
    assert mysql["database.port"] == "3306"
    assert mysql["schema.history.internal.kafka.bootstrap.servers"] == "kafka:29092"
    # MySQL 9 has only caching_sha2_password: without TLS the driver needs the server's key.
    assert mysql["database.allowPublicKeyRetrieval"] == "true"
    assert "database.allowPublicKeyRetrieval" not in mariadb


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_connectors_require_exactly_once_publication(definition):
    # KIP-618: records and offsets in one transaction, so a killed worker's replacement
    # publishes nothing twice; `required` refuses to run on a worker without it.
    assert definition.config["exactly.once.support"] == "required"
    assert definition.config["transaction.boundary"] == "poll"
