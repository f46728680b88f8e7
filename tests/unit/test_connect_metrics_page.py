"""A Connect worker's metrics page (the JMX exporter with stack/connect-metrics.yaml), read into
figures per connector. The page below is an excerpt of a real one."""

from __future__ import annotations

import pytest

from outboxkit.base.failures import DependencyUnavailableError
from outboxkit.cdc.metrics import by_connector, parse, read_worker_metrics

PAGE = """\
# HELP debezium_connected debezium.mariadb:name=null,type=connector-metrics,attribute=Connected
# TYPE debezium_connected gauge
debezium_connected{context="streaming",plugin="mariadb",server="order_db"} 1.0
debezium_connected{context="streaming",plugin="mariadb",server="inventory_db"} 0.0
# HELP debezium_millisecondsbehindsource debezium.mariadb:attribute=MilliSecondsBehindSource
# TYPE debezium_millisecondsbehindsource gauge
debezium_millisecondsbehindsource{context="streaming",plugin="mariadb",server="order_db"} 864.0
debezium_millisecondsbehindsource{context="streaming",plugin="mariadb",server="inventory_db"} -1.0
debezium_queueremainingcapacity{context="snapshot",plugin="mariadb",server="order_db"} 10.0
debezium_queueremainingcapacity{context="streaming",plugin="mariadb",server="order_db"} 8000.0
debezium_queuetotalcapacity{context="streaming",plugin="mariadb",server="order_db"} 8192.0
debezium_totalnumberofeventsseen{context="snapshot",plugin="mariadb",server="order_db"} 0.0
debezium_totalnumberofeventsseen{context="streaming",plugin="mariadb",server="order_db"} 206.0
# HELP kafka_connect_connector_status The status of the connector.
# TYPE kafka_connect_connector_status gauge
kafka_connect_connector_status{connector="inventory-outbox",status="failed"} 1.0
kafka_connect_connector_status{connector="order-outbox",status="running"} 1.0
kafka_connect_task_status{connector="order-outbox",status="running",task="0"} 1.0
jvm_threads_current 61.0
"""


def test_streaming_figures_per_server_and_each_connectors_state():
    metrics, states = parse(PAGE)
    order = metrics["order_db"]
    assert (order.behind_source_ms, order.queue_remaining, order.queue_total) == (864.0, 8000.0, 8192.0)
    assert (order.events_seen, order.connected) == (
        206.0,
        True,
    )  # the streaming context's, not the snapshot's
    inventory = metrics["inventory_db"]
    assert (inventory.behind_source_ms, inventory.connected, inventory.events_seen) == (-1.0, False, None)
    assert states == {"inventory-outbox": "failed", "order-outbox": "running"}
    assert order.as_json()["behindSourceMs"] == 864.0


def test_figures_are_named_by_connector_through_its_server():
    metrics, _ = parse(PAGE)
    named = by_connector(metrics, {"order-outbox": "order_db", "payment-outbox": "payment_db"})
    assert set(named) == {"order-outbox"} and named["order-outbox"].server == "order_db"


def test_no_worker_answering_is_an_outage_named_by_url():
    with pytest.raises(DependencyUnavailableError, match=r"127\.0\.0\.1:1/metrics"):
        read_worker_metrics(["http://127.0.0.1:1/metrics"], timeout_s=1.0)
