#!/usr/bin/env python3
"""The connectors' latency/throughput grid: ``poll.interval.ms`` x ``linger.ms``, one run, same data.

``python scripts/bench_connector.py`` on the native stack, services stopped. For every pair of
settings it re-registers the outbox connectors with them (``register_connectors.py --set``) and
measures, on the connector that publishes the order service's outbox:

- **idle**: ``--idle`` seconds with nothing to publish: Connect's and Kafka's CPU (% of one core);
- **hop at half load**: outbox rows committed one per transaction at ``--rate`` rows/s for
  ``--seconds``; each row's commit (taken when the commit returns) to the moment a plain
  ``read_committed`` reader receives it from Kafka: p50 / p99 ms; with the CPU that Connect and
  Kafka spent meanwhile (% of one core);
- **sustained rate**: the connector paused, ``--burst`` rows committed two per transaction (an
  order's share), the connector resumed: rows per second from the resume to the last row read.

The rows go to the aggregate type ``benchgrid`` (topic ``benchgrid.events``), which no service
reads; the outbox pruning removes them later like any published row. At the end the connectors
are registered again with their committed settings. Figures go to JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_saga import positive
from confluent_kafka import Consumer, TopicPartition
from saga_bench import say
from saga_bench.phases import percentiles

from devstack.stack import Stack
from outboxkit import Settings
from outboxkit.cli import ArgumentParser, run_cli
from outboxkit.ops import (
    ConnectClient,
    Record,
    connector_for,
    consumer_config,
    ensure_topics,
    service_named as service,
)
from services import ROOT, build_all
from services.instances import cpu_seconds, refuse_if_services_run

AGGREGATE_TYPE = "benchgrid"
TOPIC = f"{AGGREGATE_TYPE}.events"
REGISTER = ROOT / "scripts" / "register_connectors.py"


class Reader:
    """Reads ``benchgrid.events`` from its current end and notes when each key arrives."""

    def __init__(self, settings: Settings) -> None:
        self.arrived: dict[str, float] = {}
        self._consumer = Consumer(
            consumer_config(
                settings.kafka_bootstrap_servers, f"bench-grid-{uuid.uuid4()}", **{"fetch.wait.max.ms": 5}
            )
        )
        metadata = self._consumer.list_topics(TOPIC, timeout=10)
        partitions = [TopicPartition(TOPIC, p, -1) for p in metadata.topics[TOPIC].partitions]  # -1: the end
        self._consumer.assign(partitions)
        self._partitions = partitions
        self._wanted_paused, self._is_paused = threading.Event(), threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop fetching (its fetches would be load of their own while nothing is published); the
        reading thread pauses its consumer itself (a consumer is not shared between threads)."""
        self._wanted_paused.set()
        self._is_paused.wait(10)

    def resume(self) -> None:
        self._wanted_paused.clear()
        while self._is_paused.is_set():
            time.sleep(0.01)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wanted_paused.is_set() != self._is_paused.is_set():
                if self._wanted_paused.is_set():
                    self._consumer.pause(self._partitions)
                    self._is_paused.set()
                else:
                    self._consumer.resume(self._partitions)
                    self._is_paused.clear()
            message = self._consumer.poll(0.05)
            if message is not None and message.error() is None:
                key = Record.of(message).key
                if key is not None:
                    self.arrived.setdefault(key, time.time())

    def wait_for(self, keys: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(key in self.arrived for key in keys):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


class Grid:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = Stack()
        self.settings = Settings.load()
        context = build_all(self.settings, migrate=False)["order"]
        self.engine = context.engine
        self.outbox = context.messaging.outbox
        self.connect = ConnectClient(self.settings.connect_url)
        order = connector_for(service("order"), self.settings)
        if order is None:
            raise RuntimeError("no connector of the roster publishes the order service's outbox")
        self.connector = order

    def pids(self) -> dict[str, int | None]:
        return {
            "connect": self.stack.connect.process.running_pid(),
            "kafka": self.stack.kafka.process.running_pid(),
        }

    def idle(self, reader: Reader) -> dict[str, float]:
        """Connect's and Kafka's CPU while nothing is published (the reader paused)."""
        reader.pause()
        try:
            time.sleep(3.0)
            pids = self.pids()
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(self.args.idle)
            return {
                name: round((cpu_seconds(pid) - before[name]) / self.args.idle * 100, 2)
                for name, pid in pids.items()
            }
        finally:
            reader.resume()

    def register(self, settings: dict[str, str]) -> None:
        extra = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
        done = subprocess.run([sys.executable, str(REGISTER), *extra], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"register_connectors.py {' '.join(extra)} failed: "
                f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}"
            )

    def rows(self, keys: list[str]) -> list[dict[str, Any]]:
        now = datetime.now(UTC).replace(tzinfo=None)
        return [
            {
                "id": str(uuid.uuid4()),
                "aggregatetype": AGGREGATE_TYPE,
                "aggregateid": key,
                "type": "BenchGridRow",
                "aggregate_version": 1,
                "payload": b"\x00" * 200,
                "occurred_at": now,
            }
            for key in keys
        ]

    def hop(self, reader: Reader) -> dict[str, Any]:
        rate, seconds = self.args.rate, self.args.seconds
        committed: dict[str, float] = {}
        pids = self.pids()
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        with self.engine.connect() as connection:
            for n in range(int(rate * seconds)):
                time.sleep(max(0.0, started + n / rate - time.monotonic()))
                key = uuid.uuid4().hex
                connection.execute(self.outbox.insert(), self.rows([key]))
                connection.commit()
                committed[key] = time.time()
        elapsed = time.monotonic() - started
        cpu = {
            name: round((cpu_seconds(pid) - cpu_before[name]) / elapsed * 100, 1)
            for name, pid in pids.items()
        }
        reader.wait_for(list(committed), 30)
        latencies = [
            (reader.arrived[key] - at) * 1000 for key, at in committed.items() if key in reader.arrived
        ]
        figures = percentiles(latencies)
        return {
            "n": len(latencies),
            "missing": len(committed) - len(latencies),
            "p50_ms": figures["p50"],
            "p99_ms": figures["p99"],
            "cpu_pct": cpu,
        }

    def sustained(self, reader: Reader) -> dict[str, Any]:
        keys = [uuid.uuid4().hex for _ in range(self.args.burst)]
        self.connect.pause(self.connector)
        self.connect.wait_for_state(self.connector, "PAUSED", 60)
        with self.engine.connect() as connection:
            for pair in range(0, len(keys), 2):
                connection.execute(self.outbox.insert(), self.rows(keys[pair : pair + 2]))
                connection.commit()
        resumed = time.time()
        self.connect.resume(self.connector)
        complete = reader.wait_for(keys, 300)
        last = max((reader.arrived[key] for key in keys if key in reader.arrived), default=resumed)
        arrived = sum(key in reader.arrived for key in keys)
        return {
            "rows": arrived,
            "complete": complete,
            "rows_per_s": round(arrived / max(last - resumed, 0.001), 1),
        }

    def run(self) -> dict[str, Any]:
        points = []
        ensure_topics(self.settings.kafka_bootstrap_servers, [TOPIC])
        reader = Reader(self.settings)
        try:
            for poll_ms in self.args.poll:
                for linger_ms in self.args.linger:
                    say(f"poll.interval.ms={poll_ms} linger.ms={linger_ms}: registering")
                    self.register(
                        {"poll.interval.ms": str(poll_ms), "producer.override.linger.ms": str(linger_ms)}
                    )
                    self.settle(reader)
                    idle = self.idle(reader) if self.args.idle else {}
                    hop = self.hop(reader)
                    sustained = self.sustained(reader)
                    point = {
                        "poll_interval_ms": poll_ms,
                        "linger_ms": linger_ms,
                        "idle_cpu_pct": idle,
                        "hop": hop,
                        "sustained": sustained,
                    }
                    say(
                        f"  idle CPU {idle}; hop p50 {hop['p50_ms']} / p99 {hop['p99_ms']} ms (n={hop['n']}, "
                        f"missing {hop['missing']}), CPU {hop['cpu_pct']}; sustained "
                        f"{sustained['rows_per_s']} rows/s ({sustained['rows']} rows)"
                    )
                    points.append(point)
        finally:
            reader.close()
            say("registering the connectors again with their committed settings")
            self.register({})
        return {
            "title": f"bench_connector, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "rate": self.args.rate,
            "seconds": self.args.seconds,
            "burst": self.args.burst,
            "points": points,
        }

    def settle(self, reader: Reader) -> None:
        """A few rows through first: the task's restart and the producer's first transaction
        are not the setting's cost."""
        keys = [uuid.uuid4().hex for _ in range(20)]
        with self.engine.connect() as connection:
            connection.execute(self.outbox.insert(), self.rows(keys))
            connection.commit()
        if not reader.wait_for(keys, 120):
            raise RuntimeError(f"{self.connector} published nothing within 120 s after its registration")
        time.sleep(2)


def print_grid(report: dict[str, Any]) -> None:
    print(
        f"\nhop at {report['rate']:g} rows/s (p50 / p99 ms; Connect + Kafka CPU % of a core) "
        f"and sustained rows/s (burst of {report['burst']:,})"
    )
    print(
        "| poll.interval.ms | linger.ms | idle CPU Connect+Kafka | hop p50 | hop p99 | CPU Connect+Kafka "
        "| sustained rows/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for p in report["points"]:
        cpu, idle = p["hop"]["cpu_pct"], p.get("idle_cpu_pct") or {}
        idle_text = f"{idle['connect']:g} + {idle['kafka']:g}" if idle else "-"
        print(
            f"| {p['poll_interval_ms']} | {p['linger_ms']} | {idle_text} | {p['hop']['p50_ms']} | "
            f"{p['hop']['p99_ms']} | {cpu['connect']:g} + {cpu['kafka']:g} | "
            f"{p['sustained']['rows_per_s']:,} |"
        )


@contextmanager
def quiet_logging() -> Iterator[None]:
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    yield


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--poll", type=positive(int), action="append", help="poll.interval.ms (repeatable; default 1 5 10 20)"
    )
    parser.add_argument(
        "--linger", type=positive(int), action="append", help="linger.ms (repeatable; default 0 2 5)"
    )
    parser.add_argument(
        "--rate",
        type=positive(int),
        default=100,
        help="rows/s for the hop (default 100: the order outbox's share of the saga at 50 orders/s)",
    )
    parser.add_argument("--seconds", type=positive(int), default=30, help="seconds of the hop (default 30)")
    parser.add_argument(
        "--idle", type=positive(int), default=20, help="seconds of the idle measure (default 20)"
    )
    parser.add_argument(
        "--burst", type=positive(int), default=20_000, help="rows of the sustained-rate burst"
    )
    parser.add_argument("--report", type=Path, help="JSON (default .state/bench/connector-grid-<time>.json)")
    args = parser.parse_args(argv)
    args.poll = args.poll or [1, 5, 10, 20]
    args.linger = args.linger or [0, 2, 5]
    return args


def grid(args: argparse.Namespace) -> int:
    with quiet_logging():
        Stack().up()
        refuse_if_services_run(Settings.load())
        report = Grid(args).run()
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    path = args.report or ROOT / ".state" / "bench" / f"connector-grid-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print_grid(report)
    say(f"figures: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli("bench_connector", lambda: grid(args), log_level="INFO")


if __name__ == "__main__":
    raise SystemExit(main())
