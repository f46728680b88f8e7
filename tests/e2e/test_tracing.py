"""Tracing on: one order placed over HTTP is one trace in Jaeger, from the request to the saga's
end, and its JSON log lines carry that trace's id in every process it passes through.

The services run as real processes with ``TRACING=true`` and ``LOG_FORMAT=json`` (the rest of
the suite runs them as users do by default: tracing off, text logs); Jaeger is the stack's own
(``stack up --tracing``), built from its Go module the first time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.config import HOST, OTLP_HTTP_PORT
from devstack.stack import Stack
from services.instances import ApiInstance, ServiceInstance
from services.order.domain import OrderStatus
from tests.conftest import wait_until
from tests.e2e.conftest import SERVICE_ENV, ServiceProcess, swapped_service
from tests.e2e.probes import new_sku, wait_final

# The first run builds Jaeger (several minutes on two cores).
pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]

TRACED = {
    "TRACING": "true",
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{OTLP_HTTP_PORT}",
    "LOG_FORMAT": "json",
    # Spans leave in batches; a short delay keeps the test from waiting on the default 5 s.
    "OTEL_BSP_SCHEDULE_DELAY": "500",
}
FLOW = ("order", "inventory", "payment")


@pytest.fixture(scope="module")
def jaeger() -> str:
    stack = Stack()
    stack.jaeger.ensure_running()
    return stack.jaeger.url


@pytest.fixture(scope="module")
def traced(services: dict[str, ServiceProcess], jaeger: str) -> Iterator[dict[str, ServiceInstance]]:
    """The flow's services and the API, each with tracing on and JSON logs, for this module."""
    with ExitStack() as running:
        processes: dict[str, ServiceInstance] = {
            name: running.enter_context(swapped_service(services, name, **TRACED)) for name in FLOW
        }
        api = ApiInstance(f"test-order-api-traced-{ServiceProcess.count}", env={**SERVICE_ENV, **TRACED})
        api.start()
        running.callback(lambda: api.stop() == 0 or pytest.fail(f"order-api:\n{api.log_text()[-3000:]}"))
        api.wait_serving()
        processes["api"] = api
        yield processes


def json_lines(process: ServiceInstance) -> list[dict[str, Any]]:
    """Every JSON log line of a process (anything else it printed is skipped)."""
    lines = []
    for text in process.log_text().splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def trace_of(jaeger: str, trace_id: str) -> dict[str, Any] | None:
    response = requests.get(f"{jaeger}/api/traces/{trace_id}", timeout=5)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    data = response.json()["data"]
    return data[0] if data else None


def spans_by_service(trace: dict[str, Any]) -> dict[str, set[str]]:
    services = {pid: process["serviceName"] for pid, process in trace["processes"].items()}
    found: dict[str, set[str]] = {}
    for span in trace["spans"]:
        found.setdefault(services[span["processID"]], set()).add(span["operationName"])
    return found


def test_an_order_placed_over_http_is_one_trace_in_jaeger_and_in_every_log(ctx, traced, jaeger) -> None:
    api = traced["api"]
    sku = new_sku(ctx, 5)
    response = requests.post(
        f"{api.url}/orders",
        json={"customerId": "traced", "lines": [{"sku": sku, "quantity": 1, "unitPriceCents": 700}]},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    assert wait_final(ctx, order_id) is OrderStatus.CONFIRMED

    # The API's log line about the order names its trace: the one the request's span started.
    placed = [
        line for line in json_lines(api) if line.get("key") == order_id and "placed order" in line["message"]
    ]
    assert len(placed) == 1, json_lines(api)[-10:]
    trace_id = placed[0]["trace_id"]
    assert placed[0]["service"] == "order-api" and placed[0]["correlation_id"] == order_id
    assert len(trace_id) == 32 and placed[0]["span_id"]

    # Every service's lines about the order carry the same trace, down to the saga's end.
    for name in FLOW:
        about = [line for line in json_lines(traced[name]) if line.get("key") == order_id]
        assert about, f"{name} logged nothing about {order_id}"
        assert {line["trace_id"] for line in about} == {trace_id}, about
        assert {line["correlation_id"] for line in about} == {order_id}
    confirmed = [
        line
        for line in json_lines(traced["order"])
        if line.get("key") == order_id and line["message"].startswith(f"order {order_id} CONFIRMED")
    ]
    assert len(confirmed) == 1 and confirmed[0]["trace_id"] == trace_id

    # Jaeger holds that trace: the request, the transaction that wrote the outbox row, and each
    # consumer's apply and handler, continued through the records' traceparent headers.
    def complete() -> bool:
        trace = trace_of(jaeger, trace_id)
        found = spans_by_service(trace) if trace else {}
        return "order-service handle PaymentCompleted" in found.get("order-service", set()) and {
            "order-api",
            "inventory-service",
            "payment-service",
        } <= set(found)

    wait_until(complete, 60, f"trace {trace_id} in Jaeger to reach the saga's end")
    trace = trace_of(jaeger, trace_id)
    assert trace is not None
    found = spans_by_service(trace)
    assert "POST /orders" in found["order-api"]
    assert "transaction" in found["order-api"]
    assert {"inventory-service handle OrderCreated", "inventory-service apply"} <= found["inventory-service"]
    assert "payment-service handle StockReserved" in found["payment-service"]
    # One tree: every span but the request's has its parent in the trace.
    ids = {span["spanID"] for span in trace["spans"]}
    parents = {
        span["spanID"]: {ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"}
        for span in trace["spans"]
    }
    roots = [span for span in trace["spans"] if not parents[span["spanID"]] & ids]
    assert [root["operationName"] for root in roots] == ["POST /orders"]

    # The same tree in a terminal, found by the order's id (the Jaeger built here has no web UI).
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "stack"), "trace", order_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"trace {trace_id}: ")
    assert any("order-api" in line and "POST /orders" in line for line in lines)
    assert any("order-service handle PaymentCompleted" in line for line in lines)
