"""``stack trace ORDER_ID|TRACE_ID``: one flow's trace from the stack's Jaeger, as a tree.

The Jaeger built here from its Go module has no web UI (its UI is a separate JavaScript build no
reachable registry serves), so this reads its query API (``/api/traces``) instead: every span
of the trace, indented under its parent, with its service, its start after the trace's and its
duration. Given an order id (any aggregate key), it finds the traces whose handler spans carry it
(``outboxkit.key``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from devstack.errors import StackError

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    duration_us: int


def fetch(url: str, path: str, params: dict[str, str] | None = None) -> list[Any]:
    try:
        response = requests.get(f"{url}{path}", params=params, timeout=10)
    except requests.RequestException as exc:
        raise StackError(
            f"Jaeger does not answer at {url} ({type(exc).__name__}): `stack up --tracing` starts it"
        ) from None
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        raise StackError(f"Jaeger answered {response.status_code} for {path}: {response.text[:200]}")
    data: list[Any] = response.json().get("data") or []
    return data


def find_traces(url: str, key: str) -> list[dict[str, Any]]:
    """The trace ``key`` names (a trace id), or every trace whose spans carry it as their key."""
    if TRACE_ID.match(key):
        return fetch(url, f"/api/traces/{key}")
    services = [name for name in fetch(url, "/api/services") if isinstance(name, str)]
    found: dict[str, dict[str, Any]] = {}
    for service in services:
        params: dict[str, str] = {
            "service": service,
            "tags": json.dumps({"outboxkit.key": key}),
            "limit": "20",
        }
        for trace in fetch(url, "/api/traces", params):
            found.setdefault(trace["traceID"], trace)
    # A search returns only the spans that matched: read each trace whole.
    return [whole for trace_id in found for whole in fetch(url, f"/api/traces/{trace_id}")]


def spans_of(trace: dict[str, Any]) -> list[Span]:
    services = {pid: process["serviceName"] for pid, process in trace["processes"].items()}
    spans = []
    for raw in trace["spans"]:
        parents = [ref["spanID"] for ref in raw.get("references", []) if ref["refType"] == "CHILD_OF"]
        parent = parents[0] if parents else None
        spans.append(
            Span(
                raw["spanID"],
                parent,
                services.get(raw["processID"], "?"),
                raw["operationName"],
                raw["startTime"],
                raw["duration"],
            )
        )
    return spans


def tree_lines(trace_id: str, spans: list[Span]) -> Iterator[str]:
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in ids else None, []).append(span)
    start = min(span.start_us for span in spans)
    end = max(span.start_us + span.duration_us for span in spans)
    services = len({span.service for span in spans})
    yield f"trace {trace_id}: {len(spans)} spans, {services} services, {(end - start) / 1000:.1f} ms"

    def walk(parent: str | None, depth: int) -> Iterator[str]:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_us):
            at = (span.start_us - start) / 1000
            label = f"{'  ' * depth}{span.name}"
            yield f"  +{at:>9.1f} ms {span.duration_us / 1000:>8.1f} ms  {span.service:<18} {label}"
            yield from walk(span.span_id, depth + 1)

    yield from walk(None, 0)


def show(url: str, key: str) -> int:
    traces = find_traces(url, key)
    if not traces:
        raise KeyError(f"Jaeger at {url} holds no trace of {key!r} (is tracing on? `stack up --tracing`)")
    for trace in traces:
        for line in tree_lines(trace["traceID"], spans_of(trace)):
            print(line)
    return 0
