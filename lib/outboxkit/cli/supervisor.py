"""``outboxkit cdc-supervisor``: the CDC supervisor (:mod:`outboxkit.cdc.supervisor`)
until Ctrl-C/SIGTERM, restarting failed connector tasks; the native stack runs it as its part
``cdc-supervisor``."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from outboxkit.base.settings import Settings
from outboxkit.cdc.connect_client import ConnectClient, ConnectError
from outboxkit.cdc.recovery import ConnectorRecovery, database_of
from outboxkit.cdc.supervisor import TaskSupervisor
from outboxkit.cli import ArgumentParser, run_cli
from outboxkit.service.roster import outbox_connectors

log = logging.getLogger("cdc-supervisor")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="outboxkit cdc-supervisor",
        description="Restart failed connector tasks, with backoff, until Ctrl-C/SIGTERM.",
    )
    parser.add_argument("--connect-url", default=None, help="default: CONNECT_URL (the native stack's)")
    parser.add_argument(
        "--heartbeat", type=Path, default=None, help="a file touched after every pass (for a health check)"
    )
    parser.add_argument(
        "--auto-recover",
        action="store_true",
        default=None,
        help="recover a connector whose binlog position was purged (default: CDC_AUTO_RECOVER, false)",
    )
    args = parser.parse_args(argv)

    def supervise() -> int:
        settings = Settings.load()
        auto_recover = (
            args.auto_recover
            if args.auto_recover is not None
            else settings.get_bool("CDC_AUTO_RECOVER", False)
        )
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        client = ConnectClient(args.connect_url or settings.connect_url)
        recover = recoverer(client, settings) if auto_recover else None
        TaskSupervisor(client, recover=recover).run(stop, heartbeat=args.heartbeat)
        log.info("stopped")
        return 0

    return run_cli("outboxkit cdc-supervisor", supervise, log_level="INFO")


def recoverer(client: ConnectClient, settings: Settings) -> Callable[[str], None]:
    """What ``outboxkit cdc recover NAME`` does, for the supervisor to call."""

    definitions = {d.name: d for d in outbox_connectors()}

    def recover(name: str) -> None:
        if name not in definitions:
            raise ConnectError(f"{name} is not an outbox connector of the roster")
        recovery = ConnectorRecovery(
            client,
            database_of(settings),
            settings.kafka_bootstrap_servers,
            progress=lambda line: log.warning("%s", line),
        )
        plan = recovery.plan(definitions[name])
        log.warning("%s", plan.describe())
        recovery.run(plan, definitions[name].snapshot_mode)

    return recover


if __name__ == "__main__":
    raise SystemExit(main())
