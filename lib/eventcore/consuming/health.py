"""Whether a service process can do its work, and the HTTP endpoint that says so.

A process is healthy while every dependency it needs answers and it is not draining. Outages
are reported by whoever meets them (the consumer loop, a periodic job); each change of state
is logged once, with how long the outage lasted, never once per try.

``GET /health`` answers 200 with ``{"status": "ok", ...}`` or 503 with the outages, so a
supervisor, a load balancer or a test can see what the logs say.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
    """``GET /health`` (and ``GET /metrics`` when given ``metrics``, Prometheus text) on
    ``host:port`` (port 0: any free port) in a daemon thread."""

    def __init__(
        self,
        health: Health,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self.health = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/metrics" and metrics is not None:
                    self._send(200, METRICS_CONTENT_TYPE, metrics())
                    return
                if path != "/health":
                    self.send_error(404, "only /health and /metrics are served here")
                    return
                report = health.report()
                self._send(
                    200 if report["status"] == "ok" else 503, "application/json", json.dumps(report).encode()
                )

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:  # probes must not flood the log
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-endpoint", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/health"

    def start(self) -> HealthEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
