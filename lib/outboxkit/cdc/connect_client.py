"""Adapter for the Kafka Connect REST API: create or update a connector and wait for it to run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from outboxkit.base.errors import OutboxKitError
from outboxkit.base.failures import DependencyUnavailableError

# How long a request waits out a Connect group's rebalance (HTTP 409) before answering anyway.
REBALANCE_PATIENCE_S = 30.0
# The 409s that pass by themselves: the group is rebalancing (a worker joined or left), or the
# worker has not yet read a config change just made (another connector's, a moment before).
# Other 409s ("must be in the STOPPED state", "already exists") are answers, not waits.
TRANSIENT_CONFLICTS = ("rebalanc", "stale configuration")


class ConnectError(OutboxKitError, RuntimeError):
    """Connect refused a request, or a connector failed."""


class ConnectUnavailableError(DependencyUnavailableError, ConnectError):
    """Kafka Connect did not answer."""

    def __init__(self, detail: str) -> None:
        DependencyUnavailableError.__init__(self, "Kafka Connect", detail)


@dataclass(frozen=True)
class ConnectorState:
    name: str
    connector_state: str
    task_states: list[str]
    traces: list[str]
    task_workers: list[str] = field(default_factory=list)  # "host:port" of the worker running each task

    @property
    def running(self) -> bool:
        return (
            self.connector_state == "RUNNING"
            and bool(self.task_states)
            and all(s == "RUNNING" for s in self.task_states)
        )

    @property
    def failed(self) -> bool:
        return self.connector_state == "FAILED" or "FAILED" in self.task_states

    def describe(self) -> str:
        tasks = ", ".join(self.task_states) or "no tasks yet"
        return f"{self.name}: connector {self.connector_state}, tasks [{tasks}]"


class ConnectClient:
    """Kafka Connect's REST API. ``url`` may list several workers (comma-separated): a request
    goes to the one that answered last, and to the next when it does not answer; any worker
    forwards to the group's leader what only the leader may do."""

    def __init__(self, url: str, timeout_s: float = 15.0) -> None:
        self.urls = [part.strip().rstrip("/") for part in url.split(",") if part.strip()]
        self._current = 0
        self._timeout_s = timeout_s

    @property
    def url(self) -> str:
        return self.urls[self._current]

    def _call(self, method: str, path: str, body: Any | None = None) -> requests.Response:
        deadline = time.monotonic() + REBALANCE_PATIENCE_S
        while True:
            response = self._send(method, path, body)
            transient = response.status_code == 409 and any(m in response.text for m in TRANSIENT_CONFLICTS)
            if not transient or time.monotonic() > deadline:
                return response
            time.sleep(1.0)

    def _send(self, method: str, path: str, body: Any | None) -> requests.Response:
        failure: requests.RequestException | None = None
        for step in range(len(self.urls)):
            index = (self._current + step) % len(self.urls)
            try:
                response = requests.request(
                    method, f"{self.urls[index]}{path}", json=body, timeout=self._timeout_s
                )
            except requests.RequestException as exc:
                failure = exc
                continue
            self._current = index
            return response
        raise ConnectUnavailableError(
            f"{', '.join(self.urls)} {'is' if len(self.urls) == 1 else 'are'} unreachable "
            f"({type(failure).__name__})"
        ) from failure

    def put_config(self, name: str, config: dict[str, str]) -> bool:
        """Create or update; returns True when the connector was created."""
        response = self._call("PUT", f"/connectors/{name}/config", config)
        if response.status_code not in (200, 201):
            raise ConnectError(
                f"Connect refused the config of {name} (HTTP {response.status_code}): {response.text[:2000]}"
            )
        return response.status_code == 201

    def state(self, name: str) -> ConnectorState | None:
        response = self._call("GET", f"/connectors/{name}/status")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ConnectError(f"status of {name}: HTTP {response.status_code} {response.text[:500]}")
        body = response.json()
        tasks = body.get("tasks", [])
        traces = [t.get("trace", "") for t in tasks if t.get("trace")]
        if body["connector"].get("trace"):
            traces.insert(0, body["connector"]["trace"])
        return ConnectorState(
            name=name,
            connector_state=body["connector"]["state"],
            task_states=[t["state"] for t in tasks],
            traces=traces,
            task_workers=[t.get("worker_id", "") for t in tasks],
        )

    def _act(self, method: str, path: str, what: str) -> None:
        response = self._call(method, path)
        if response.status_code == 404:
            raise ConnectError(f"{what}: no such connector in Kafka Connect at {self.url}")
        if response.status_code not in (200, 202, 204):
            raise ConnectError(f"{what}: HTTP {response.status_code} {response.text[:500]}")

    def delete(self, name: str) -> None:
        """Remove the connector (its offsets stay in Connect's offsets topic)."""
        self._act("DELETE", f"/connectors/{name}", f"deleting {name}")

    def pause(self, name: str) -> None:
        """Tasks stay assigned but read nothing (resume continues where they were)."""
        self._act("PUT", f"/connectors/{name}/pause", f"pausing {name}")

    def resume(self, name: str) -> None:
        self._act("PUT", f"/connectors/{name}/resume", f"resuming {name}")

    def stop(self, name: str) -> None:
        """Tasks shut down (offsets kept); only a stopped connector's offsets can be reset."""
        self._act("PUT", f"/connectors/{name}/stop", f"stopping {name}")

    def restart(self, name: str, only_failed: bool = False) -> None:
        """Restart the connector and its tasks (all, or only the FAILED ones: running ones are left)."""
        flag = str(only_failed).lower()
        self._act(
            "POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed={flag}", f"restarting {name}"
        )

    def reset_offsets(self, name: str) -> None:
        """Forget the connector's committed source offsets (Kafka 3.6+; the connector must be STOPPED)."""
        self._act("DELETE", f"/connectors/{name}/offsets", f"resetting the offsets of {name}")

    def wait_for_state(self, name: str, wanted: str, timeout_s: float = 60.0) -> ConnectorState:
        """Until the connector itself reports ``wanted`` (e.g. STOPPED, PAUSED)."""
        deadline = time.monotonic() + timeout_s
        state = self.state(name)
        while time.monotonic() < deadline:
            if state is not None and state.connector_state == wanted:
                return state
            time.sleep(0.5)
            state = self.state(name)
        raise ConnectError(
            f"{name} did not reach {wanted} within {timeout_s:.0f}s; last seen: "
            f"{state.describe() if state else 'not registered'}"
        )

    def topics(self, name: str) -> list[str]:
        """The topics the connector has written to since it was created or its list was reset."""
        response = self._call("GET", f"/connectors/{name}/topics")
        if response.status_code != 200:
            raise ConnectError(f"topics of {name}: HTTP {response.status_code} {response.text[:500]}")
        return sorted(response.json().get(name, {}).get("topics", []))

    def connectors(self) -> list[str]:
        response = self._call("GET", "/connectors")
        if response.status_code != 200:
            raise ConnectError(f"listing connectors: HTTP {response.status_code} {response.text[:500]}")
        return sorted(response.json())

    def config(self, name: str) -> dict[str, str]:
        response = self._call("GET", f"/connectors/{name}/config")
        if response.status_code != 200:
            raise ConnectError(f"config of {name}: HTTP {response.status_code} {response.text[:500]}")
        return dict(response.json())

    def offsets(self, name: str) -> list[dict[str, Any]]:
        """The source offsets Connect has committed for ``name`` (Kafka 3.6+ REST API)."""
        response = self._call("GET", f"/connectors/{name}/offsets")
        if response.status_code == 404:
            raise ConnectError(f"connector {name} is not registered in Kafka Connect at {self.url}")
        if response.status_code != 200:
            raise ConnectError(f"offsets of {name}: HTTP {response.status_code} {response.text[:500]}")
        return [entry.get("offset") or {} for entry in response.json().get("offsets", [])]

    def wait_until_running(
        self,
        name: str,
        timeout_s: float = 90.0,
        on_progress: Callable[[ConnectorState | None], None] | None = None,
    ) -> ConnectorState:
        deadline = time.monotonic() + timeout_s
        last: ConnectorState | None = None
        first = True
        while time.monotonic() < deadline:
            state = self.state(name)
            if (first or state != last) and on_progress:
                on_progress(state)
            first, last = False, state
            if state and state.failed:
                raise ConnectError(f"{state.describe()}\n" + "\n".join(state.traces or ["(no trace given)"]))
            if state and state.running:
                return state
            time.sleep(0.5)
        raise ConnectError(
            f"{name} did not reach RUNNING within {timeout_s:.0f}s; last seen: "
            f"{last.describe() if last else 'not registered'}"
        )
