"""Jaeger (v2, on the OpenTelemetry Collector): where the services' spans go with tracing on.

``stack up --tracing`` starts it: OTLP over HTTP on 4318 (the OpenTelemetry default every
process exports to), its UI and query API on 16686, traces kept in memory (the last
``max_traces``; a restart forgets them). No registry here serves Jaeger's binary, so it is built
once from its Go module (devstack.golang) at the version versions.env pins.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from devstack.components.base import Component
from devstack.config import HOST, JAEGER_QUERY_GRPC_PORT, JAEGER_QUERY_PORT, OTLP_HTTP_PORT
from devstack.context import StackContext
from devstack.golang import built_go_program
from devstack.http import get

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
MAX_TRACES = 100_000


def jaeger_config() -> dict[str, object]:
    """The collector pipeline: OTLP in, Jaeger's memory store out, the query service on top.

    Everything listens on loopback only, and the collector's own telemetry server (port 8888
    by default) is off: one fewer port to collide with.
    """
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": MAX_TRACES}}}},
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                "http": {"endpoint": f"{HOST}:{JAEGER_QUERY_PORT}"},
                "grpc": {"endpoint": f"{HOST}:{JAEGER_QUERY_GRPC_PORT}"},
            },
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"{HOST}:{OTLP_HTTP_PORT}"}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


class Jaeger(Component):
    start_timeout = 60.0

    def __init__(self, ctx: StackContext) -> None:
        super().__init__(ctx.paths, "jaeger")
        self.ctx = ctx

    @property
    def ports(self) -> tuple[int, ...]:
        return (JAEGER_QUERY_PORT, OTLP_HTTP_PORT, JAEGER_QUERY_GRPC_PORT)

    @property
    def config_file(self) -> Path:
        return self.home / "jaeger.json"

    def marker(self) -> str:
        return f"--config={self.config_file}"

    @cached_property
    def binary(self) -> Path:
        version = self.ctx.versions.raw.get("JAEGER_VERSION")
        if not version:
            from devstack.errors import StackError

            raise StackError("stack/versions.env lacks JAEGER_VERSION")
        return built_go_program(
            self.paths,
            self.ctx.versions,
            "jaeger",
            JAEGER_MODULE,
            version,
            f"{JAEGER_MODULE}/cmd/jaeger",
            follow_replaces=True,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{JAEGER_QUERY_PORT}"

    def prepare(self) -> None:
        super().prepare()
        # JSON is YAML: the collector reads either, and no YAML writer is needed here.
        self.config_file.write_text(json.dumps(jaeger_config(), indent=2) + "\n")

    def command(self) -> list[str]:
        return [str(self.binary), self.marker()]

    def is_healthy(self) -> bool:
        status, _ = get(f"{self.url}/api/services")
        return status == 200
