#!/usr/bin/env python3
"""The demo: the whole order saga on the native stack, end to end.

Starts the native stack (installing what is missing; with OUTBOXKIT_ENV_FILE set it uses the stack
that file describes instead, e.g. the compose one), creates each service's tables, registers the
Debezium connectors, seeds what the flow needs, starts the flow's services as their own
processes, places a few orders (what they are, and what each must reach, is the flow's:
``services/showcase.py``), prints every event as it is consumed with its commit-to-consume
latency, then the final report, and stops the services with a graceful drain.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from devstack.api import ensure_up, stack_elsewhere
from devstack.console import relative
from outboxkit import Settings, topic_for
from outboxkit.cli import ArgumentParser, run_cli
from outboxkit.ops import ConsumedEvent, EventTap, format_event, publishing_services
from services import build_all, flow_services
from services.instances import ServiceInstance, refuse_if_services_run
from services.showcase import DESCRIPTION, REPORT, SERVICE_ENV, Showcase

ROOT = Path(__file__).resolve().parent.parent


def step(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def start_service(name: str, env: dict[str, str]) -> ServiceInstance:
    instance = ServiceInstance(name, f"demo-{name}-service", env).start()
    instance.wait_assigned()
    print(
        f"  {name}-service pid {instance.pid} (log: {relative(instance.log_path)}, "
        f"health: {instance.health_url})"
    )
    return instance


def demo() -> int:
    other_stack = stack_elsewhere()
    if other_stack:
        # The compose stack (README): already up; its endpoints and passwords are in that file.
        step(f"1/6 the stack described by {relative(other_stack)} (started with docker compose)")
    else:
        step("1/6 native stack: MariaDB, Kafka (KRaft), Kafka Connect + Debezium, Apicurio Registry")
        ensure_up()
    settings = Settings.load()

    step("2/6 each service's tables in its own database, schemas registered (BACKWARD)")
    contexts = build_all(settings)

    step("3/6 Debezium outbox connectors (scripts/register_connectors.py)")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "register_connectors.py")], check=True)

    # Instances of these groups already running would take partitions from the demo's own.
    refuse_if_services_run(settings)
    step("4/6 seed the flow, start its services")
    showcase = Showcase(contexts, uuid.uuid4().hex[:6])
    showcase.seed()
    processes: list[ServiceInstance] = []
    tap: EventTap | None = None
    # Whatever goes wrong from here, the services it started are stopped: one left running would
    # take its group's partitions from the next run's.
    try:
        for name in flow_services():
            processes.append(start_service(name, SERVICE_ENV))
        # Earlier runs' history is skipped: however long it is, the tap starts at this run's records.
        topics = [topic_for(emitted) for d in publishing_services() for emitted in d.emitted]
        tap = EventTap(topics, settings, since=datetime.now(UTC))
        tap.wait_for(lambda _events: tap is not None and tap.at_end(), timeout_s=60)
        tap.events.clear()

        step(f"5/6 place orders: {DESCRIPTION}")
        orders = showcase.place()
        ids = {order.id: label for label, order in orders.items()}
        final_types = {"OrderConfirmed", "OrderCancelled"}

        def all_final(events: list[ConsumedEvent]) -> bool:
            return {e.key for e in events if e.event_type in final_types} >= set(ids)

        seen = 0
        deadline = time.monotonic() + 120
        while not all_final(tap.events) and time.monotonic() < deadline:
            tap.poll()
            for event in tap.events[seen:]:
                if event.key in ids:
                    print(
                        f"  [{ids[event.key]:>12}] {event.latency_ms() or 0.0:7.1f} ms  "
                        f"{format_event(event, as_json=False)}",
                        flush=True,
                    )
            seen = len(tap.events)
        latencies = [latency for e in tap.events if e.key in ids and (latency := e.latency_ms()) is not None]
        if latencies:
            print(
                f"  commit-to-consume latency over {len(latencies)} events: "
                f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms"
            )

        step(f"6/6 {REPORT}")
        wrong = 0
        for line, as_expected in showcase.report():
            print(f"  {line}" + ("" if as_expected else "   !! not what the demo expects"))
            wrong += not as_expected
        if wrong:
            print(f"  !! {wrong} outcome(s) not as expected", file=sys.stderr)
            return 1
    finally:
        if tap is not None:
            tap.close()
        for process in processes:
            process.stop()
        if processes:
            logs = relative(processes[0].log_path.parent)
            print(f"  services drained and stopped; their logs are in {logs}/demo-*.log")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="demo.py", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    return run_cli("demo.py", demo, log_level="INFO")


if __name__ == "__main__":
    raise SystemExit(main())
