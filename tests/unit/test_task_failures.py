"""Which connector failures a restart cannot heal, recognised from Connect's task traces."""

from outboxkit.cdc.task_failures import (
    BINLOG_PURGED,
    CREDENTIALS_REFUSED,
    SCHEMA_UNKNOWN,
    permanent_failure,
)

MYSQL_FILE_PURGED = (
    "io.debezium.DebeziumException: Client requested master to start replication from "
    "position > file size; the first event 'binlog.000003' at 379, ... Error code: 1236\n"
    "Caused by: com.github.shyiko.mysql.binlog.network.ServerException: Could not find "
    "first log file name in binary log index file"
)
DEBEZIUM_STARTUP_CHECK = (
    "io.debezium.DebeziumException: The connector is trying to read binlog starting "
    "at SourceInfo [currentGtid=null, currentBinlogFilename=binlog.000003], but this "
    "is no longer available on the server. Reconfigure the connector to use a "
    "snapshot when needed."
)


# What Debezium 3.5's MySQL connector said on MySQL 9.7 (GTIDs on) after the purge, at its start.
DEBEZIUM_3_5_STARTUP_CHECK = (
    "io.debezium.DebeziumException: The connector is trying to read change stream starting at "
    "BinlogOffsetContext{sourceInfoSchema=Schema{io.debezium.connector.mysql.Source:STRUCT}, sourceInfo="
    "BinlogSourceInfo{currentGtid='null', currentBinlogFilename='binlog.000003', "
    "currentBinlogPosition=20091, currentRowNumber=0}}, but this is no longer available on the server. "
    "Reconfigure the connector to use a snapshot mode when needed."
)


def test_purged_positions_on_either_server_are_permanent():
    for trace in (
        MYSQL_FILE_PURGED,
        DEBEZIUM_STARTUP_CHECK,
        DEBEZIUM_3_5_STARTUP_CHECK,
        "Could not find GTID state requested by slave in any binlog files. Error code: 1236",
    ):
        failure = permanent_failure([trace], "order-outbox")
        assert failure is not None and failure.kind == BINLOG_PURGED, trace
        assert "cdc recover order-outbox" in failure.sentence("order-outbox")


def test_refused_credentials_and_a_missing_schema_are_permanent_with_their_own_advice():
    denied = permanent_failure(["java.sql.SQLException: Access denied for user 'cdc'@'%'"], "x")
    assert denied is not None and denied.kind == CREDENTIALS_REFUSED
    assert denied.evidence == "Access denied for user 'cdc'@'%'"
    unknown = permanent_failure(
        [
            "... for table payment_db.cdc_heartbeat whose schema isn't known to this "
            "connector. One possible cause is an incomplete ..."
        ],
        "payment-outbox",
    )
    assert unknown is not None and unknown.kind == SCHEMA_UNKNOWN
    assert "cdc recover payment-outbox --force" in unknown.advice


def test_failures_that_can_heal_are_not_permanent():
    for trace in (
        "io.debezium.DebeziumException: Error reading MySQL variables: Connection refused",
        "org.apache.kafka.common.errors.TimeoutException: Topic order.events not present",
        "",
    ):
        assert permanent_failure([trace], "order-outbox") is None
