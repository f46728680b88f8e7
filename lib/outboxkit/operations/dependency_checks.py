"""What a front door (the order API's ``GET /health``) reports: is each part of the stack
answering, and is each CDC connector streaming with its binlog position safe. Every check is
short (seconds, not the clients' long timeouts) and says what it saw; a check that fails never
hides the others."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import Engine, text

from outboxkit.base.settings import Settings
from outboxkit.cdc.connectors import ConnectorDefinition
from outboxkit.cdc.status import report_connectors
from outboxkit.kafka.clients import admin_client

CHECK_TIMEOUT_S = 3.0
Check = Callable[[], dict[str, Any]]


def database(engine: Engine) -> Check:
    """A check that ``engine``'s database answers ``SELECT 1``."""

    def check() -> dict[str, Any]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"ok": True, "database": engine.url.database}

    return check


def kafka(bootstrap_servers: str) -> Check:
    """A check that the Kafka cluster at ``bootstrap_servers`` answers a metadata request."""

    def check() -> dict[str, Any]:
        admin = admin_client(bootstrap_servers, **{"socket.timeout.ms": int(CHECK_TIMEOUT_S * 1000)})
        metadata = admin.list_topics(timeout=CHECK_TIMEOUT_S)
        return {"ok": True, "brokers": len(metadata.brokers)}

    return check


def registry(url: str) -> Check:
    """A check that the schema registry at ``url`` lists its subjects."""

    def check() -> dict[str, Any]:
        response = requests.get(f"{url.rstrip('/')}/subjects", timeout=CHECK_TIMEOUT_S)
        response.raise_for_status()
        return {"ok": True, "subjects": len(response.json())}

    return check


def connectors(settings: Settings, expected: Sequence[ConnectorDefinition]) -> Check:
    """Each connector: streaming (task running, fresh heartbeats) and its binlog headroom. One that is
    missing, not streaming or whose position was purged is not ok; one whose position will be
    purged soon is a warning."""

    def check() -> dict[str, Any]:
        reports = {
            r.name: r for r in report_connectors(settings, expected, connect_timeout_s=CHECK_TIMEOUT_S)
        }
        states: dict[str, Any] = {}
        warnings = []
        for name in sorted({d.name for d in expected} | set(reports)):
            report = reports.get(name)
            if report is None or report.streaming is None or report.streaming.state is None:
                states[name] = {"ok": False, "state": "MISSING", "tasks": []}
                continue
            found = report.as_json()
            states[name] = {
                "ok": report.is_streaming and report.headroom.verdict != "purged",
                **{k: found[k] for k in ("state", "tasks", "streaming", "heartbeatAgeSeconds", "binlog")},
            }
            if report.headroom.verdict == "warning":
                warnings.append(f"{name}: {report.headroom.detail}")
        result: dict[str, Any] = {"ok": all(s["ok"] for s in states.values()), "connectors": states}
        if warnings:
            result["warning"] = "; ".join(warnings)
        return result

    return check


def run_checks(checks: Mapping[str, Check]) -> dict[str, Any]:
    """Run every check at once; ``{"status": "ok"|"warning"|"degraded", "checks": {name: {...}}}``
    (warning: everything works, but something needs attention soon)."""
    started = time.monotonic()

    def guarded(check: Check) -> dict[str, Any]:
        try:
            return check()
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}

    with ThreadPoolExecutor(max_workers=len(checks) or 1) as pool:
        futures = {name: pool.submit(guarded, check) for name, check in checks.items()}
        results = {name: future.result() for name, future in futures.items()}
    healthy = all(result["ok"] for result in results.values())
    warned = any(result.get("warning") for result in results.values())
    return {
        "status": "degraded" if not healthy else "warning" if warned else "ok",
        "checks": results,
        "seconds": round(time.monotonic() - started, 3),
    }
