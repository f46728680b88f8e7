"""Restart connector tasks that failed, with backoff: what Kafka Connect does not do by itself.

Debezium reconnects by itself while it streams (keep-alive), but a task that *starts* while the
database is down (Connect restarted during a database outage, say) fails with "Error reading
MySQL variables ... Connection refused" and stays FAILED until someone restarts it: CDC stops
for good, silently but for the status. This loop is that someone: every few seconds it asks
Connect for each connector's state and restarts the failed tasks
(``POST /connectors/<name>/restart?includeTasks=true&onlyFailed=true``), backing off while they
keep failing, and logs one line per restart and one when the connector runs again.

A failure no restart can heal (:mod:`outboxkit.cdc.task_failures`: a purged binlog position,
credentials the database refuses) is not restarted: the supervisor says why in one line, once.
With ``--auto-recover`` (or ``CDC_AUTO_RECOVER=true``) it recovers a connector whose binlog
position was purged itself, as ``outboxkit cdc recover`` would (:mod:`outboxkit.cdc.recovery`).

``python -m outboxkit.cli.supervisor [--connect-url URL] [--auto-recover]`` runs it until
Ctrl-C/SIGTERM; the native stack runs it as its part ``cdc-supervisor``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from outboxkit.base.failures import Backoff
from outboxkit.cdc.connect_client import ConnectClient, ConnectError
from outboxkit.cdc.task_failures import BINLOG_PURGED, permanent_failure

log = logging.getLogger("cdc-supervisor")


@dataclass
class Restarts:
    attempts: int = 0
    next_at: float = 0.0


@dataclass
class TaskSupervisor:
    client: ConnectClient
    # Capped low: once the database is back, CDC should be streaming again within seconds.
    backoff: Backoff = field(default_factory=lambda: Backoff(initial_s=2.0, max_s=10.0))
    restarts: dict[str, Restarts] = field(default_factory=dict)
    # Recovers a connector whose binlog position was purged (None: only say so).
    recover: Callable[[str], None] | None = None
    given_up: dict[str, str] = field(default_factory=dict)  # connector -> why, as logged

    def check_once(self, now: float | None = None) -> list[str]:
        """One pass over every connector; returns the names whose tasks it restarted or recovered."""
        now = time.monotonic() if now is None else now
        acted = []
        for name in self.client.connectors():
            state = self.client.state(name)
            if state is None:
                continue
            record = self.restarts.setdefault(name, Restarts())
            if state.failed:
                if now < record.next_at:
                    continue
                permanent = permanent_failure(state.traces, name)
                if permanent is not None and not (permanent.kind == BINLOG_PURGED and self.recover):
                    if self.given_up.get(name) != permanent.sentence(name):
                        log.error("%s", permanent.sentence(name))
                        self.given_up[name] = permanent.sentence(name)
                    continue
                record.attempts += 1
                record.next_at = now + self.backoff.delay(record.attempts)
                if permanent is not None and self.recover is not None:
                    log.warning(
                        "%s: its binlog position was purged (%s): recovering it (attempt %d)",
                        name,
                        permanent.evidence,
                        record.attempts,
                    )
                    try:
                        self.recover(name)
                    except Exception as exc:  # logged and tried again after the backoff
                        log.error("%s: recovery failed: %s", name, str(exc).splitlines()[0][:300])
                        continue
                else:
                    cause = next((t.strip().splitlines()[0] for t in state.traces if t.strip()), "no trace")
                    log.warning(
                        "%s: restarting its failed tasks (attempt %d): %s", name, record.attempts, cause[:300]
                    )
                    self.client.restart(name, only_failed=True)
                acted.append(name)
            elif state.running and (record.attempts or name in self.given_up):
                log.warning(
                    "%s: running again%s",
                    name,
                    f" after {record.attempts} restart(s)" if record.attempts else "",
                )
                self.restarts[name] = Restarts()
                self.given_up.pop(name, None)
        return acted

    def run(self, stop: threading.Event, interval_s: float = 3.0, heartbeat: Path | None = None) -> None:
        log.info(
            "watching the connectors at %s every %.0fs%s",
            self.client.url,
            interval_s,
            "; recovering purged binlog positions" if self.recover else "",
        )
        unreachable = False
        while not stop.is_set():
            try:
                self.check_once()
                if unreachable:
                    log.warning("Kafka Connect answers again")
                unreachable = False
            except ConnectError as exc:
                if not unreachable:
                    log.warning("Kafka Connect unavailable (%s); waiting for it", exc)
                unreachable = True
            if heartbeat is not None:
                heartbeat.touch()
            stop.wait(interval_s)
