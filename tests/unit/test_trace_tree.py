"""`stack trace`: a Jaeger trace printed as a tree, each span under its parent, in start order."""

from __future__ import annotations

from typing import Any

from devstack.traces import spans_of, tree_lines


def span(
    span_id: str, parent: str | None, process: str, name: str, start: int, duration: int
) -> dict[str, Any]:
    references = [{"refType": "CHILD_OF", "spanID": parent}] if parent else []
    return {
        "spanID": span_id,
        "references": references,
        "processID": process,
        "operationName": name,
        "startTime": start,
        "duration": duration,
    }


TRACE: dict[str, Any] = {
    "traceID": "ab" * 16,
    "processes": {"p1": {"serviceName": "order-api"}, "p2": {"serviceName": "inventory-service"}},
    "spans": [
        span("3", "2", "p2", "inventory-service apply", 1_030_000, 4_000),
        span("1", None, "p1", "POST /orders", 1_000_000, 12_000),
        span("4", "3", "p2", "inventory-service handle OrderCreated", 1_031_000, 2_000),
        span("2", "1", "p1", "transaction", 1_002_000, 8_000),
        # A parent outside the trace (a record written before tracing was on): shown as a root.
        span("5", "ff", "p2", "inventory-service apply", 1_050_000, 1_000),
    ],
}


def test_spans_are_indented_under_their_parents_in_start_order():
    lines = list(tree_lines(TRACE["traceID"], spans_of(TRACE)))
    assert lines[0] == f"trace {'ab' * 16}: 5 spans, 2 services, 51.0 ms"
    names = [line.split("  ", 1)[1] for line in lines[1:]]
    assert [name.split()[-1] for name in names] == [
        "/orders",
        "transaction",
        "apply",
        "OrderCreated",
        "apply",
    ]
    labels = [line[48:] for line in lines[1:]]  # after the times and the service's column
    depth = [(len(label) - len(label.lstrip())) // 2 for label in labels]
    assert depth == [0, 1, 2, 3, 0]
    assert lines[4].startswith("  +     31.0 ms      2.0 ms  inventory-service")
    assert lines[5].endswith("inventory-service apply")
