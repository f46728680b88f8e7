"""Debezium's and Kafka Connect's own metrics, as the JMX exporter on each worker serves them.

An order written to the outbox moves the order connector's figures (events seen, how far behind
the binlog it is), and each connector's state is there as Connect knows it.
"""

from __future__ import annotations

import pytest

from outboxkit.cdc.metrics import by_connector, read_worker_metrics
from outboxkit.service.roster import outbox_connectors
from services.order.commands import place_order
from services.order.domain import OrderLine
from tests.conftest import connector_of, wait_until

pytestmark = pytest.mark.stack


def test_the_order_connectors_figures_move_while_an_order_flows(settings, contexts, connectors):
    urls = settings.connect_metrics_urls
    assert urls, "stack.env names no CONNECT_METRICS_URLS"
    servers = {d.name: d.server for d in outbox_connectors()}
    before, states = read_worker_metrics(urls)
    assert {states.get(name) for name in servers} == {"running"}, states
    figures = by_connector(before, servers)
    assert set(figures) == set(servers), (sorted(before), servers)
    order = figures[connector_of("order")]
    assert order.connected is True
    assert order.queue_total and order.queue_remaining is not None
    seen = order.events_seen or 0

    place_order(contexts["order"].uow_factory, "metrics", [OrderLine("SKU-METRICS", 1, 100)])

    def moved() -> bool:
        now = by_connector(read_worker_metrics(urls)[0], servers)[connector_of("order")]
        behind = now.behind_source_ms
        return (now.events_seen or 0) > seen and behind is not None and behind >= 0

    wait_until(moved, 60, "the order connector's events-seen to count the new order")
