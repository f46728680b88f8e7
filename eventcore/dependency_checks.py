"""What a front door (the order API's ``GET /health``) reports: is each part of the stack answering,
and is each CDC connector running. Every check is short (seconds, not the clients' long
timeouts) and says what it saw; a check that fails never hides the others."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, text

from eventcore.cdc.connect_client import ConnectClient
from eventcore.kafka import CLIENT_LOG

CHECK_TIMEOUT_S = 3.0
Check = Callable[[], dict[str, Any]]


def database(engine: Engine) -> Check:
    def check() -> dict[str, Any]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"ok": True, "database": engine.url.database}

    return check


def kafka(bootstrap_servers: str) -> Check:
    def check() -> dict[str, Any]:
        admin = AdminClient({"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG,
                             "socket.timeout.ms": int(CHECK_TIMEOUT_S * 1000)})
        metadata = admin.list_topics(timeout=CHECK_TIMEOUT_S)
        return {"ok": True, "brokers": len(metadata.brokers)}

    return check


def registry(url: str) -> Check:
    def check() -> dict[str, Any]:
        response = requests.get(f"{url.rstrip('/')}/subjects", timeout=CHECK_TIMEOUT_S)
        response.raise_for_status()
        return {"ok": True, "subjects": len(response.json())}

    return check


def connectors(url: str, expected: list[str]) -> Check:
    """Each expected connector's state; one that is missing, paused, stopped or failed is not ok."""

    def check() -> dict[str, Any]:
        client = ConnectClient(url, timeout_s=CHECK_TIMEOUT_S)
        states: dict[str, Any] = {}
        for name in sorted(set(expected) | set(client.connectors())):
            state = client.state(name)
            if state is None:
                states[name] = {"ok": False, "state": "MISSING", "tasks": []}
            else:
                states[name] = {"ok": state.running, "state": state.connector_state,
                                "tasks": state.task_states}
        return {"ok": all(s["ok"] for s in states.values()), "connectors": states}

    return check


def run_checks(checks: Mapping[str, Check]) -> dict[str, Any]:
    """Run every check at once; ``{"status": "ok"|"degraded", "checks": {name: {...}}}``."""
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
    return {"status": "ok" if healthy else "degraded", "checks": results,
            "seconds": round(time.monotonic() - started, 3)}
