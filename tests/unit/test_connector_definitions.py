import re

import pytest

from outboxkit.base.settings import Settings, SettingsError
from outboxkit.base.topics import topic_for
from outboxkit.cdc.connectors import MARIADB_CONNECTOR, MYSQL_CONNECTOR, Deployment, effective_config
from outboxkit.service.roster import PER_SERVER, PER_SERVICE, connector_for, outbox_connectors, service

OFFLINE = Settings({})
FLOW_DATABASES = ["order_db", "inventory_db", "payment_db", "points_db"]
SERVER = outbox_connectors(OFFLINE, layout=PER_SERVER)
PER_SERVICE_CONNECTORS = outbox_connectors(OFFLINE, layout=PER_SERVICE)
DEFINITIONS = SERVER + PER_SERVICE_CONNECTORS


def test_by_default_one_connector_reads_the_server_for_every_outbox_on_it():
    assert outbox_connectors(OFFLINE) == SERVER
    (connector,) = SERVER
    assert connector.name == "outbox" and connector.config["topic.prefix"] == "outbox"
    assert connector.databases == FLOW_DATABASES
    assert connector.outboxes == [f"{d}.outbox" for d in FLOW_DATABASES]
    assert all(connector_for(service(name), OFFLINE) == "outbox" for name in ("order", "points"))
    assert connector_for(service("order_view"), OFFLINE) is None  # a read model publishes nothing


def test_per_service_connectors_read_one_database_each():
    assert [d.databases for d in PER_SERVICE_CONNECTORS] == [[d] for d in FLOW_DATABASES]
    ids = [d.config["database.server.id"] for d in DEFINITIONS]
    assert len(set(ids)) == len(ids)  # each reads the binlog as a replica of its own
    settings = Settings({"CDC_CONNECTORS": "per-service"})
    assert connector_for(service("payment"), settings) == "payment-outbox"


def test_a_layout_or_name_that_is_no_such_thing_is_refused():
    with pytest.raises(SettingsError, match="CDC_CONNECTORS='one-per-table' is not one of per-server"):
        outbox_connectors(Settings({"CDC_CONNECTORS": "one-per-table"}))
    with pytest.raises(SettingsError, match="CDC_CONNECTOR_NAME='Outbox!' is not a connector name"):
        outbox_connectors(Settings({"CDC_CONNECTOR_NAME": "Outbox!"}))
    named = outbox_connectors(Settings({"CDC_CONNECTOR_NAME": "shop-cdc"}))[0]
    assert named.name == named.config["topic.prefix"] == "shop-cdc"


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_connector_captures_only_the_outboxes_through_the_router(definition):
    c = definition.config
    heartbeat = f"{definition.databases[0]}.cdc_heartbeat"
    assert c["table.include.list"] == ",".join([*definition.outboxes, heartbeat])
    assert definition.heartbeat_table == heartbeat
    # Its heartbeat query writes the table it captures (so ts_sec moves while nothing else does),
    # and those rows are dropped, not published.
    assert f"INTO {heartbeat}" in c["heartbeat.action.query"]
    assert re.fullmatch(c["predicates.isHeartbeatTable.pattern"], f"{c['topic.prefix']}.{heartbeat}")
    for database in FLOW_DATABASES:  # no other database's heartbeat table is matched
        if database != definition.databases[0]:
            assert not re.fullmatch(
                c["predicates.isHeartbeatTable.pattern"], f"{c['topic.prefix']}.{database}.cdc_heartbeat"
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
    # The predicate matches each outbox table's raw topic and nothing else, so heartbeats pass
    # untouched to their filter.
    for outbox in definition.outboxes:
        assert re.fullmatch(c["predicates.isOutboxTable.pattern"], f"{c['topic.prefix']}.{outbox}")
    assert not re.fullmatch(c["predicates.isOutboxTable.pattern"], f"{c['topic.prefix']}.{heartbeat}")
    assert not re.fullmatch(c["predicates.isOutboxTable.pattern"], f"{c['topic.prefix']}.other_db.outbox")


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
