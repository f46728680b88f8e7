"""Outages of the database and the registry are waited out: nothing is dead-lettered, every
order finishes once the dependency is back, and the services say they are unhealthy meanwhile."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from outboxkit.kafka.replay import EventTap
from outboxkit.serialization.avro import EventSchema, SchemaCatalog
from services import SCHEMAS, flow_services
from services.order import repository
from services.order.commands import place_order
from services.order.domain import Order, OrderLine, OrderStatus
from services.order.main import SERVICE as ORDER_SERVICE
from tests.conftest import recently, wait_until
from tests.e2e.conftest import ServiceProcess
from tests.e2e.probes import dead_letters, new_sku, pending_dead_letters, stock, wait_final

pytestmark = pytest.mark.stack
GROUPS = flow_services()


@contextmanager
def paused(*processes: ServiceProcess) -> Iterator[None]:
    """SIGSTOP, then SIGCONT: records pile up unread, then arrive together."""
    for process in processes:
        assert process.process is not None
        process.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            assert process.process is not None
            process.process.send_signal(signal.SIGCONT)


def healthy(process: ServiceProcess) -> bool:
    return process.health()[0] == 200


def wait_unhealthy(process: ServiceProcess, dependency: str, timeout_s: float = 60) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reports_it() -> bool:
        code, report = process.health()
        seen.update(report)
        return code == 503 and dependency in [o["dependency"] for o in report["outages"]]

    try:
        wait_until(reports_it, timeout_s, f"{process.service} to report {dependency} unavailable")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; last: {process.health()}, alive: {process.alive()}") from None
    return seen


def assert_nothing_dead_lettered(ctx, settings, keys: list[str]) -> None:
    for service in GROUPS:
        assert [r for r in pending_dead_letters(ctx, service) if r.record_key in keys] == []
        for key in keys:
            assert dead_letters(settings, f"{service}-service", key) == []


def test_a_30_second_database_outage_is_waited_out(ctx, services, settings, stack):
    sku = new_sku(ctx, 50)
    log_before = len(services["inventory"].log_text())
    with (
        EventTap(["order.events"], settings, since=recently()) as tap,
        paused(services["inventory"], services["payment"]),
    ):
        orders = [
            place_order(ctx["order"].uow_factory, f"outage-{n}", [OrderLine(sku, 1, 100)]).id
            for n in range(5)
        ]
        tap.wait_for(lambda events: {e.key for e in events} >= set(orders), 30)
        stack.kill("mariadb")
        down_since = time.monotonic()

    try:
        # The OrderCreated records reach inventory while the database is down: they wait.
        report = wait_unhealthy(services["inventory"], "database")
        print("inventory during the outage:", json.dumps(report))
        assert report["status"] == "unavailable"
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
        assert services["inventory"].health()[0] == 503  # still waiting, 30 s on, nothing given up
    finally:
        stack.start("mariadb")
    for order_id in orders:
        assert wait_final(ctx, order_id, 120) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (45, 5)
    assert_nothing_dead_lettered(ctx, settings, orders)
    for name in GROUPS:
        wait_until(partial(healthy, services[name]), 30, f"{name} healthy again")
    log = services["inventory"].log_text()[log_before:]
    assert "database unavailable" in log and "database is back after" in log
    assert log.count("database unavailable") == 1  # one line when it starts, not one per try
    assert "Traceback" not in log


def test_a_registry_outage_is_waited_out(ctx, services, settings, stack):
    """A record whose writer schema the consumer has not seen needs the registry to decode."""
    current = SchemaCatalog.load(SCHEMAS)
    raw = json.loads(current.for_event_type("OrderCreated").text)
    raw["fields"].append({"name": f"note{uuid.uuid4().hex[:8]}", "type": ["null", "string"], "default": None})
    newer = SchemaCatalog(
        [
            EventSchema.from_text(json.dumps(raw), "order"),
            *[s for s in current if s.event_type != "OrderCreated"],
        ]
    )
    writer = ORDER_SERVICE.context(settings, catalog=newer)
    writer.outbox.register_schemas("order")  # registered while the registry is up; id cached
    sku = new_sku(ctx, 5)

    stack.kill("registry")
    order = Order.place("registry-outage", [OrderLine(sku, 1, 100)])
    with writer.unit_of_work() as uow:
        uow.orders.add(order)

    try:
        wait_unhealthy(services["inventory"], "schema registry")
        time.sleep(5)
        with ctx["order"].engine.connect() as connection:
            stored = repository.get(connection, order.id)
        assert stored is not None and stored.status is OrderStatus.PENDING  # held, not dropped
    finally:
        stack.start("registry")
    assert wait_final(ctx, order.id, 120) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (4, 1)
    assert_nothing_dead_lettered(ctx, settings, [order.id])
    wait_until(lambda: services["inventory"].health()[0] == 200, 30, "inventory healthy again")
    log = services["inventory"].log_text()
    assert "schema registry unavailable" in log and "schema registry is back after" in log
