"""Restart connector tasks that failed, with backoff: what Kafka Connect does not do by itself.

Debezium reconnects by itself while it streams (keep-alive), but a task that *starts* while the
database is down (Connect restarted during a database outage, say) fails with "Error reading
MySQL variables ... Connection refused" and stays FAILED until someone restarts it: CDC stops
for good, silently but for the status. This loop is that someone: every few seconds it asks
Connect for each connector's state and restarts the failed tasks
(``POST /connectors/<name>/restart?includeTasks=true&onlyFailed=true``), backing off while they
keep failing, and logs one line per restart and one when the connector runs again.

``python -m eventcore.cdc.supervisor [--connect-url URL]`` runs it until Ctrl-C/SIGTERM; the
native stack runs it as its part ``cdc-supervisor``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from eventcore.cdc.connect_client import ConnectClient, ConnectError
from eventcore.cli import ArgumentParser, run_cli
from eventcore.failures import Backoff

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

    def check_once(self, now: float | None = None) -> list[str]:
        """One pass over every connector; returns the names whose tasks it restarted."""
        now = time.monotonic() if now is None else now
        restarted = []
        for name in self.client.connectors():
            state = self.client.state(name)
            if state is None:
                continue
            record = self.restarts.setdefault(name, Restarts())
            if state.failed:
                if now < record.next_at:
                    continue
                record.attempts += 1
                record.next_at = now + self.backoff.delay(record.attempts)
                cause = next((t.strip().splitlines()[0] for t in state.traces if t.strip()), "no trace")
                log.warning("%s: restarting its failed tasks (attempt %d): %s", name, record.attempts,
                            cause[:300])
                self.client.restart_failed(name)
                restarted.append(name)
            elif state.running and record.attempts:
                log.warning("%s: running again after %d restart(s)", name, record.attempts)
                self.restarts[name] = Restarts()
        return restarted

    def run(self, stop: threading.Event, interval_s: float = 3.0, heartbeat: Path | None = None) -> None:
        log.info("watching the connectors at %s every %.0fs", self.client.url, interval_s)
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


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m eventcore.cdc.supervisor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connect-url", default=None, help="default: CONNECT_URL (the native stack's)")
    parser.add_argument("--heartbeat", type=Path, default=None,
                        help="a file touched after every pass (for a health check)")
    args = parser.parse_args(argv)

    def supervise() -> int:
        from eventcore.bootstrap import configure_logging
        from eventcore.settings import Settings

        configure_logging()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        client = ConnectClient(args.connect_url or Settings.load().connect_url)
        TaskSupervisor(client).run(stop, heartbeat=args.heartbeat)
        log.info("stopped")
        return 0

    return run_cli("cdc-supervisor", supervise)


if __name__ == "__main__":
    raise SystemExit(main())
