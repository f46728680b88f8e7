"""Whether a service process can do its work, and the HTTP endpoint that says so.

A process is healthy while every dependency it needs answers and it is not draining. Outages
are reported by whoever meets them (the consumer loop, a periodic job); each change of state
is logged once, with how long the outage lasted, never once per try.

``GET /health`` answers 200 with ``{"status": "ok", ...}`` or 503 with the outages, so a
supervisor, a load balancer or a test can see what the logs say; ``GET /metrics`` is the
process's Prometheus metrics. Both are served by uvicorn (prometheus_client's ASGI app for the
metrics).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, make_asgi_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outage:
    dependency: str
    detail: str
    since_wall: datetime
    since_monotonic: float

    def seconds(self) -> float:
        return time.monotonic() - self.since_monotonic


class Health:
    """Thread-safe health state of one process; ``name`` prefixes its log lines."""

    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        self.name = name
        self._log = logger or log
        self._lock = threading.Lock()
        self._outages: dict[str, Outage] = {}
        self._draining = False
        self._details: Callable[[], dict[str, Any]] = dict

    def unavailable(self, dependency: str, detail: str, holding: str | None = None) -> None:
        """Record that ``dependency`` does not answer; logs only when this is news."""
        with self._lock:
            if dependency in self._outages:
                return
            self._outages[dependency] = Outage(dependency, detail, datetime.now(UTC), time.monotonic())
        suffix = f"; holding {holding} until it is back" if holding else ""
        self._log.warning("%s: %s unavailable (%s)%s", self.name, dependency, detail, suffix)

    def available(self, dependency: str) -> None:
        with self._lock:
            outage = self._outages.pop(dependency, None)
        if outage is not None:
            self._log.warning("%s: %s is back after %.1fs", self.name, dependency, outage.seconds())

    def recovered_all(self) -> None:
        for dependency in self.outages():
            self.available(dependency)

    def outages(self) -> list[str]:
        with self._lock:
            return list(self._outages)

    def draining(self) -> None:
        with self._lock:
            self._draining = True

    def set_details(self, details: Callable[[], dict[str, Any]]) -> None:
        """Extra fields for the report (e.g. the consumer's counters and lag)."""
        self._details = details

    @property
    def healthy(self) -> bool:
        with self._lock:
            return not self._outages and not self._draining

    def report(self) -> dict[str, Any]:
        with self._lock:
            outages = [
                {
                    "dependency": o.dependency,
                    "detail": o.detail,
                    "since": o.since_wall.isoformat(),
                    "seconds": round(o.seconds(), 1),
                }
                for o in self._outages.values()
            ]
            draining = self._draining
        status = "draining" if draining else ("unavailable" if outages else "ok")
        try:
            details = self._details()
        except Exception as exc:  # a report must never fail because a detail could not be read
            details = {"details_error": str(exc)}
        return {"name": self.name, "status": status, "outages": outages, **details}


class HealthEndpoint:
    """``GET /health`` (and ``GET /metrics``, Prometheus text from ``metrics``, a registry) on
    ``host:port`` (port 0: any free port), served by uvicorn in a daemon thread."""

    def __init__(
        self,
        health: Health,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self.health = health
        # Bound here, so a port that is taken fails the start (OSError) and port 0 is known at once.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        metrics_app = make_asgi_app(metrics) if metrics is not None else None

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            if scope["path"] == "/metrics" and metrics_app is not None:
                await metrics_app(scope, receive, send)
                return
            if scope["path"] == "/health":
                report = health.report()
                status, body = (200 if report["status"] == "ok" else 503), json.dumps(report).encode()
                content_type = b"application/json"
            else:
                status, body = 404, b"only /health and /metrics are served here"
                content_type = b"text/plain"
            headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        # Probes must not flood the log: no access log, and uvicorn's own lines at warning only.
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="health-endpoint", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}/health"

    def start(self, timeout_s: float = 10.0) -> HealthEndpoint:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()
