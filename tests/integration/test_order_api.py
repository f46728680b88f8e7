"""The order API in-process (FastAPI's TestClient) on the real databases, Kafka, registry and
Connect. No read model runs here, so every view is behind what the API wrote: pending."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from outboxkit.base.settings import Settings
from outboxkit.service.context import ServiceContext
from outboxkit.service.roster import outbox_connectors, publishing_services, service_definitions
from services.order.repository import get as get_order
from services.order.tables import orders
from services.order_api.app import create_app
from tests.conftest import connector_of, wait_until

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def client(settings: Settings, contexts: dict[str, ServiceContext[Any]]) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def body(customer: str, **changes: Any) -> dict[str, Any]:
    return {
        "customerId": customer,
        "lines": [{"sku": "APPLE", "quantity": 2, "unitPriceCents": 150}],
        "currency": "EUR",
        **changes,
    }


def written(order_context: ServiceContext[Any]) -> tuple[int, int]:
    """(orders, outbox rows) in order_db."""
    outbox = order_context.messaging.outbox
    with order_context.engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(orders)).scalar_one(),
            connection.execute(select(func.count()).select_from(outbox)).scalar_one(),
        )


def orders_of(order_context: ServiceContext[Any], customer: str) -> list[str]:
    with order_context.engine.connect() as connection:
        return list(connection.execute(select(orders.c.id).where(orders.c.customer_id == customer)).scalars())


def test_get_right_after_post_says_pending_with_how_far_behind(client: TestClient) -> None:
    placed = client.post("/orders", json=body("api-pending"))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["version"] == 1 and order["status"] == "PENDING"
    assert placed.headers["Location"] == f"/orders/{order['id']}"
    seen = client.get(f"/orders/{order['id']}", params={"min_version": order["version"]})
    assert seen.status_code == 200
    assert seen.json()["view"] is None
    sync = seen.json()["sync"]
    assert (sync["state"], sync["appliedVersion"], sync["expectedVersion"], sync["versionsBehind"]) == (
        "pending",
        0,
        1,
        1,
    )
    assert sync["secondsBehind"] >= 0


def test_a_retried_post_with_the_same_key_creates_one_order(
    client: TestClient, order_context: ServiceContext[Any]
) -> None:
    customer, key = f"api-retry-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    first = client.post("/orders", json=body(customer), headers={"Idempotency-Key": key})
    again = client.post("/orders", json=body(customer), headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert orders_of(order_context, customer) == [first.json()["id"]]


def test_concurrent_retries_with_one_key_create_one_order(
    client: TestClient, order_context: ServiceContext[Any]
) -> None:
    customer, key = f"api-race-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    answers: list[Any] = []

    def post() -> None:
        answers.append(client.post("/orders", json=body(customer), headers={"Idempotency-Key": key}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(orders_of(order_context, customer)) == 1


def test_the_same_key_with_another_body_is_a_conflict(
    client: TestClient, order_context: ServiceContext[Any]
) -> None:
    customer, key = f"api-reuse-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    assert client.post("/orders", json=body(customer), headers={"Idempotency-Key": key}).status_code == 201
    before = written(order_context)
    other = client.post("/orders", json=body(customer, currency="USD"), headers={"Idempotency-Key": key})
    assert other.status_code == 409
    assert "already used with a different request" in other.json()["error"]
    assert written(order_context) == before and len(orders_of(order_context, customer)) == 1


LINE = {"sku": "APPLE", "quantity": 1, "unitPriceCents": 100}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lines": [LINE]}, "body.customerId"),
        ({"customerId": "", "lines": [LINE]}, "body.customerId"),
        ({"customerId": "x" * 65, "lines": [LINE]}, "body.customerId"),
        ({"customerId": "a", "lines": []}, "body.lines"),
        ({"customerId": "a", "lines": [{**LINE, "quantity": 0}]}, "body.lines.0.quantity"),
        ({"customerId": "a", "lines": [{**LINE, "quantity": "2"}]}, "body.lines.0.quantity"),
        ({"customerId": "a", "lines": [{**LINE, "quantity": 2**31}]}, "body.lines.0.quantity"),
        ({"customerId": "a", "lines": [{**LINE, "unitPriceCents": -1}]}, "body.lines.0.unitPriceCents"),
        ({"customerId": "a", "lines": [{"sku": "APPLE", "quantity": 1}]}, "body.lines.0.unitPriceCents"),
        ({"customerId": "a", "lines": [LINE], "currency": "EURO"}, "body.currency"),
        ({"customerId": "a", "lines": [LINE], "flow": "sideways"}, "body.flow"),
        ({"customerId": "a", "lines": [LINE], "surprise": 1}, "body.surprise"),
        ({"customerId": "a", "lines": [LINE, LINE]}, "body.lines"),  # the domain's rule: one line per sku
        ({"customerId": "a", "lines": [LINE], "points": -1}, "body.points"),
        ({"customerId": "a", "lines": [LINE], "points": "5"}, "body.points"),
        ({"customerId": "a", "lines": [LINE], "points": 101}, "body.points"),  # more than the total
        ("not an object", "body"),
    ],
)
def test_a_malformed_body_gets_422_naming_the_field_and_writes_nothing(
    client: TestClient, order_context: ServiceContext[Any], payload: Any, field: str
) -> None:
    before = written(order_context)
    answer = client.post("/orders", json=payload)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith(f"{field}:"), answer.json()
    assert written(order_context) == before


def test_an_order_redeeming_points_says_so(client: TestClient, order_context: ServiceContext[Any]) -> None:
    customer = f"api-points-{uuid.uuid4().hex[:8]}"
    answer = client.post("/orders", json={"customerId": customer, "lines": [LINE], "points": 40})
    assert answer.status_code == 201, answer.text
    assert answer.json()["points"] == 40
    with order_context.engine.connect() as connection:
        placed = get_order(connection, answer.json()["id"])
    assert placed is not None and (placed.points, placed.to_charge_cents) == (40, 60)


def test_broken_json_and_a_bad_key_get_422(client: TestClient, order_context: ServiceContext[Any]) -> None:
    before = written(order_context)
    broken = client.post("/orders", content=b'{"customerId": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "JSON" in broken.json()["error"]
    bad_key = client.post("/orders", json=body("api-bad-key"), headers={"Idempotency-Key": "has space"})
    assert bad_key.status_code == 422 and bad_key.json()["error"].startswith("header.Idempotency-Key:")
    assert written(order_context) == before


def test_reading_cancelling_and_the_saga_of_orders(client: TestClient) -> None:
    assert client.get("/orders/no-such-order").status_code == 404
    assert client.get("/orders", params={"status": "LOST"}).status_code == 422
    assert client.get("/orders", params={"limit": 0}).status_code == 422
    order = client.post("/orders", json=body("api-cancel", flow="orchestrated")).json()
    too_far = client.get(f"/orders/{order['id']}", params={"min_version": 9})
    assert too_far.status_code == 422 and too_far.json()["error"].startswith("query.min_version:")
    saga = client.get(f"/orders/{order['id']}/saga").json()
    assert saga["flow"] == "orchestrated" and saga["saga"]["state"] == "RESERVING"
    assert [h["trigger"] for h in saga["history"]] == ["OrderPlaced"]
    cancelled = client.post(f"/orders/{order['id']}/cancel", json={"reason": "changed my mind"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["version"] == 2
    sync = client.get(f"/orders/{order['id']}", params={"min_version": 2}).json()["sync"]
    assert sync["expectedVersion"] == 2 and sync["state"] == "pending"
    again = client.post(f"/orders/{order['id']}/cancel")
    assert again.status_code == 409 and "it is CANCELLED" in again.json()["error"]
    assert client.post("/orders/no-such-order/cancel").status_code == 404


def test_metrics_parse_as_prometheus_text(client: TestClient) -> None:
    client.get("/orders/no-such-order")
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    requests_seen = [
        s
        for s in families["order_api_requests"].samples
        if s.labels.get("route") == "/orders/{order_id}" and s.labels.get("status") == "404"
    ]
    assert requests_seen and requests_seen[0].value >= 1
    assert "order_api_orders_placed" in families


def test_health_reports_a_stopped_connector(client: TestClient, settings: Settings, connectors: None) -> None:
    healthy = client.get("/health")
    assert healthy.status_code == 200, healthy.text
    assert set(healthy.json()["checks"]) == {"order_db", "query_db", "kafka", "registry", "connectors"}
    connect = settings.connect_url
    payment = connector_of("payment")
    others = {d.name for d in outbox_connectors()} - {payment}  # none when one connector reads the server
    stopped = requests.put(f"{connect}/connectors/{payment}/stop", timeout=30)
    assert stopped.status_code in (200, 202, 204), stopped.text
    try:

        def reported() -> bool:
            answer = client.get("/health")
            state = answer.json()["checks"]["connectors"]["connectors"][payment]["state"]
            return bool(answer.status_code == 503 and state == "STOPPED")

        wait_until(reported, 60, f"/health to report {payment} STOPPED")
        report = client.get("/health").json()
        assert report["status"] == "degraded"
        for name in others:
            assert report["checks"]["connectors"]["connectors"][name]["ok"] is True
    finally:
        requests.put(f"{connect}/connectors/{payment}/resume", timeout=30)
        wait_until(lambda: client.get("/health").status_code == 200, 120, f"{payment} to run again")


def test_health_and_metrics_report_each_connectors_binlog_headroom(
    client: TestClient, connectors: None
) -> None:
    wait_until(lambda: client.get("/health").status_code == 200, 60, "every connector to stream")
    report = client.get("/health").json()
    for name, connector in report["checks"]["connectors"]["connectors"].items():
        assert connector["streaming"] is True, name
        assert connector["binlog"]["verdict"] == "ok" and connector["binlog"]["file"].startswith("binlog.")
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    samples = families["outboxkit_cdc_binlog_headroom_seconds"].samples
    headroom = {s.labels["connector"]: s.value for s in samples}
    assert set(headroom) == set(report["checks"]["connectors"]["connectors"]) and min(headroom.values()) > 0
    assert all(s.value == 0 for s in families["outboxkit_cdc_binlog_position_purged"].samples)


def test_the_operations_state_names_every_connector_and_group(client: TestClient, connectors: None) -> None:
    state = client.get("/ops/state")
    assert state.status_code == 200, state.text
    found = state.json()
    # Every service of the roster, none named here: a service added to it shows up by itself.
    assert {c["name"] for c in found["connectors"]} == {d.name for d in outbox_connectors()}
    published = {database for c in found["connectors"] for database in c["outbox"]["database"].split(", ")}
    assert published == {d.database_name for d in publishing_services()}
    assert all("waiting" in c["outbox"] for c in found["connectors"])
    groups = {g["group"]: g for g in found["groups"]}
    assert set(groups) == {d.group_id for d in service_definitions()}
    assert "order.events" in groups["inventory-service"]["topics"]
    assert all(isinstance(g["deadLetters"]["pending"], int) for g in groups.values())
    assert client.get("/ops").headers["content-type"].startswith("text/html")
    refused = client.post("/ops/dead-letters/inventory-service/reinject", json={"key": "a", "all": True})
    assert refused.status_code == 422
    assert refused.json()["error"] == "body: give exactly one of key, eventId or all"
    assert client.post("/ops/dead-letters/inventory-service/reinject", json={"nope": 1}).status_code == 422
