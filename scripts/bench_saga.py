#!/usr/bin/env python3
"""Benchmark of the whole saga at a fixed offered rate, with two references from the same run.

``python scripts/bench_saga.py --rate 100 --duration 60`` (or ``--find-max``) on the native stack.
Writer processes place orders open-loop at the offered rate; the three services run as in
production (their own processes); a sampler process records each group's lag and every
process's memory and CPU once a second. Per rate it prints, from the services' own tables:

- each hop, commit-to-apply: the producer's ``occurredAt`` (its outbox row) to the consuming
  group's inbox row, written in the transaction that applied the event;
- the saga: OrderCreated's ``occurredAt`` to the final event's (both stamped in their commit);
- p50, p95, p99, max; the achieved rate; consumer lag at the start and the end of the load;
  spurious timeouts; each process's resident memory.

``--find-max`` steps the rate up and reports the highest one the pipeline sustains with lag flat.
``--references`` adds, at ``--reference-rate``, the database's own ceiling (the same
transactions through the same handlers, the same number of connections, no Kafka) and a plain
polling relay (SELECT unpublished rows every N ms, produce, mark; N = 100 and 10) against
Debezium, with the database CPU each path costs. Figures go to JSON and a PNG. Nothing is
asserted: these machines are shared and noisy, so numbers are for comparison within a run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, func, select, update
from sqlalchemy.dialects.mysql import DATETIME, MEDIUMBLOB

from devstack.stack import Stack
from eventcore.bootstrap import configure_logging
from eventcore.cli import ArgumentParser, number_argument, run_cli
from eventcore.settings import REPO_ROOT, Settings
from services import build_all, flow_services
from services.instances import GroupLagProbe, ServiceInstance, process_usage, refuse_if_services_run
from services.inventory.commands import set_stock
from services.order.commands import place_order
from services.order.domain import OrderLine
from services.order.tables import orders

SKUS = 32
FINAL = ("CONFIRMED", "CANCELLED")
# (producer service, event type, consumer group): the hops of a confirmed order.
HOPS = [
    ("order", "OrderCreated", "inventory-service"),
    ("inventory", "StockReserved", "payment-service"),
    ("inventory", "StockReserved", "order-service"),
    ("payment", "PaymentCompleted", "order-service"),
]


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 1),
    }


# -- writers and the sampler run in processes of their own -----------------------------------


def writer(
    customer: str,
    rate: float,
    duration_s: float,
    start_at: float,
    skus: list[str],
    results: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    """Places orders at ``rate`` per second from ``start_at`` (epoch) for ``duration_s``: open
    loop, so a slow pipeline does not slow the offered load; a late writer says how late."""
    order_context = build_all(Settings.load(), migrate=False)["order"]
    count = int(rate * duration_s)
    placed = 0
    worst_lateness = 0.0
    for n in range(count):
        due = start_at + n / rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        else:
            worst_lateness = max(worst_lateness, -wait)
        line = OrderLine(skus[n % len(skus)], 1, 100 + n % 50)
        place_order(order_context.uow_factory, customer, [line])
        placed += 1
    results.put({"placed": placed, "worst_lateness_s": round(worst_lateness, 3)})


def sampler(
    pids: dict[str, int],
    out: str,
    stop: Any,
    interval_s: float = 1.0,  # type: ignore[misc]
    tables_every_s: float | None = None,
) -> None:
    """Once a second: each group's lag, each process's RSS and CPU seconds (JSON lines); every
    ``tables_every_s``, the rows of each inbox and outbox."""
    settings = Settings.load()
    probe = GroupLagProbe(settings.kafka_bootstrap_servers)
    tables_due = time.monotonic()
    with open(out, "a") as handle:
        while not stop.is_set():
            row: dict[str, Any] = {"t": time.time()}
            if tables_every_s and time.monotonic() >= tables_due:
                tables_due = time.monotonic() + tables_every_s
                try:
                    row["table_rows"] = table_rows(Stack())
                except Exception as exc:  # a sample lost, not the run
                    row["table_rows_error"] = str(exc)
            try:
                row["lag"] = probe.lag()
            except Exception as exc:  # a sample lost, not the run
                row["lag_error"] = str(exc)
            row["proc"] = {name: process_usage(pid) for name, pid in pids.items()}
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            stop.wait(interval_s)
    probe.close()


# -- the saga at one offered rate ------------------------------------------------------------


@dataclass
class PhaseResult:
    rate: float
    duration_s: float
    orders: int
    achieved_rate: float
    writer_worst_lateness_s: float
    drained_after_s: float | None
    saga_ms: dict[str, Any]
    hops_ms: dict[str, dict[str, Any]]
    lag_start: dict[str, int]
    lag_end: dict[str, int]
    lag_flat: bool
    spurious_timeouts: int
    unfinished: int
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_share: dict[str, float] = field(default_factory=dict)


class SagaBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = Settings.load()
        self.contexts = build_all(self.settings)
        self.stack = Stack()
        self.run_id = uuid.uuid4().hex[:6]
        self.phases_run = 0
        self.skus = [f"B{self.run_id}-{n}" for n in range(SKUS)]
        self.services: dict[str, ServiceInstance] = {}
        self.samples_path = REPO_ROOT / ".state" / "bench" / f"saga-{self.run_id}-samples.jsonl"
        self.samples_path.parent.mkdir(parents=True, exist_ok=True)

    def start_services(self) -> None:
        refuse_if_services_run(self.settings)
        for sku in self.skus:
            set_stock(self.contexts["inventory"].uow_factory, sku, 2_000_000_000)
        env = {"PAYMENT_LIMIT_CENTS": str(10**12), **dict(kv.split("=", 1) for kv in self.args.service_env)}
        counts = {name: 1 for name in flow_services()}
        for setting in self.args.instances:
            name, _, count = setting.partition("=")
            counts[name] = int(count)
        self.services = {
            f"{name}-{n}" if n else name: ServiceInstance(
                name, f"bench-{self.run_id}-{name}-{n}", env
            ).start()
            for name in flow_services()
            for n in range(counts[name])
        }
        try:
            for instance in self.services.values():
                instance.wait_assigned()
        except BaseException:
            self.stop_services()  # none outlives a failed start
            raise

    def stop_services(self) -> None:
        for instance in self.services.values():
            if instance.alive():
                instance.stop()

    def pids(self) -> dict[str, int]:
        pids = {f"{name}-service": instance.pid for name, instance in self.services.items() if instance.pid}
        for component in (self.stack.mariadb, self.stack.kafka, self.stack.connect, self.stack.registry):
            pid = component.process.running_pid()
            if pid:
                pids[component.name] = pid
        return pids

    def samples(self, since: float, until: float) -> list[dict[str, Any]]:
        rows = []
        for line in self.samples_path.read_text().splitlines():
            row = json.loads(line)
            if since <= row["t"] <= until:
                rows.append(row)
        return rows

    def wait_drained(self, timeout_s: float = 600.0) -> None:
        """A rate is measured from an empty pipeline: whatever an earlier run left is consumed first."""
        probe = GroupLagProbe(self.settings.kafka_bootstrap_servers)
        deadline = time.monotonic() + timeout_s
        try:
            while (lag := probe.lag()) and sum(lag.values()) > 20 and time.monotonic() < deadline:
                say(f"waiting for the backlog to drain first: {lag}")
                time.sleep(5)
        finally:
            probe.close()

    def run_phase(self, rate: float, duration_s: float) -> PhaseResult:
        self.wait_drained()
        # One customer per phase: its orders are what the phase measures (a rate run again after
        # --history must not count the first run's orders too).
        self.phases_run += 1
        customer = f"bench-{self.run_id}-{int(rate)}-{self.phases_run}"
        writers = self.args.writers
        queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()  # type: ignore[type-arg]
        start_at = time.time() + 3.0  # the writers' processes start first
        processes = [
            multiprocessing.get_context("spawn").Process(
                target=writer,
                args=(customer, rate / writers, duration_s, start_at + i / rate, self.skus, queue),
            )
            for i in range(writers)
        ]
        for process in processes:
            process.start()
        say(f"rate {rate:g}/s: {writers} writer process(es) for {duration_s:.0f}s")
        outcomes = [queue.get(timeout=duration_s + 600) for _ in processes]
        for process in processes:
            process.join(30)
        load_end = time.time()
        drained_after = self.wait_final(customer, timeout_s=self.args.drain_timeout)
        return self.measure(rate, duration_s, customer, start_at, load_end, outcomes, drained_after)

    def wait_final(self, customer: str, timeout_s: float) -> float | None:
        started = time.monotonic()
        with self.contexts["order"].engine.connect() as connection:
            while time.monotonic() - started < timeout_s:
                connection.rollback()  # a fresh snapshot each time
                open_count = connection.execute(
                    select(func.count()).where(
                        orders.c.customer_id == customer, orders.c.status.notin_(FINAL)
                    )
                ).scalar_one()
                if open_count == 0:
                    return round(time.monotonic() - started, 1)
                time.sleep(0.5)
        return None

    def measure(
        self,
        rate: float,
        duration_s: float,
        customer: str,
        start_at: float,
        load_end: float,
        outcomes: list[dict[str, Any]],
        drained_after: float | None,
    ) -> PhaseResult:
        order_ctx = self.contexts["order"]
        with order_ctx.engine.connect() as c:
            rows = c.execute(
                select(orders.c.id, orders.c.status, orders.c.cancel_reason).where(
                    orders.c.customer_id == customer
                )
            ).all()
        ids = [r.id for r in rows]
        unfinished = sum(1 for r in rows if r.status not in FINAL)
        timeouts = sum(1 for r in rows if (r.cancel_reason or "").startswith("no reply within"))
        occurred: dict[str, dict[str, tuple[str, datetime]]] = {}  # service -> event id -> (type, at)
        by_order: dict[str, dict[str, datetime]] = defaultdict(dict)
        for name in flow_services():
            outbox = self.contexts[name].messaging.outbox
            events: dict[str, tuple[str, datetime]] = {}
            with self.contexts[name].engine.connect() as c:
                for chunk in chunks(ids, 2000):
                    for r in c.execute(
                        select(outbox.c.id, outbox.c.type, outbox.c.aggregateid, outbox.c.occurred_at).where(
                            outbox.c.aggregateid.in_(chunk)
                        )
                    ):
                        events[r.id] = (r.type, r.occurred_at)
                        by_order[r.aggregateid][r.type] = r.occurred_at
            occurred[name] = events
        saga = [
            (e[final] - e["OrderCreated"]).total_seconds() * 1000
            for e in by_order.values()
            for final in ("OrderConfirmed", "OrderCancelled")
            if final in e and "OrderCreated" in e
        ]
        hops: dict[str, dict[str, Any]] = {}
        for producer, event_type, group in HOPS:
            consumer_service = group.removesuffix("-service")
            inbox = self.contexts[consumer_service].messaging.inbox
            wanted = {eid: at for eid, (t, at) in occurred[producer].items() if t == event_type}
            latencies = []
            with self.contexts[consumer_service].engine.connect() as c:
                for chunk in chunks(list(wanted), 2000):
                    for r in c.execute(
                        select(inbox.c.event_id, inbox.c.processed_at).where(
                            inbox.c.consumer_group == group, inbox.c.event_id.in_(chunk)
                        )
                    ):
                        latencies.append((r.processed_at - wanted[r.event_id]).total_seconds() * 1000)
            hops[f"{event_type} -> {group}"] = percentiles(latencies)
        window = self.samples(start_at, load_end)
        lag_start = window[0].get("lag", {}) if window else {}
        lag_end = window[-1].get("lag", {}) if window else {}
        growth = sum(lag_end.values()) - sum(lag_start.values()) if window else 0
        rss: dict[str, dict[str, float]] = {}
        cpu: dict[str, float] = {}
        if len(window) >= 2:
            first, last = window[0]["proc"], window[-1]["proc"]
            span = window[-1]["t"] - window[0]["t"]
            for name in last:
                series = [row["proc"][name][0] / 2**20 for row in window if row["proc"].get(name)]
                if series:
                    rss[name] = {
                        "start": round(series[0], 1),
                        "end": round(series[-1], 1),
                        "max": round(max(series), 1),
                    }
                if first.get(name) and last.get(name):
                    cpu[name] = round((last[name][1] - first[name][1]) / span * 100, 1)  # % of one core
        placed = sum(o["placed"] for o in outcomes)
        return PhaseResult(
            rate=rate,
            duration_s=duration_s,
            orders=placed,
            achieved_rate=round(placed / (load_end - start_at), 1),
            writer_worst_lateness_s=max(o["worst_lateness_s"] for o in outcomes),
            drained_after_s=drained_after,
            saga_ms=percentiles(saga),
            hops_ms=hops,
            lag_start=lag_start,
            lag_end=lag_end,
            # Flat: the backlog grew by less than one second of load while the load ran.
            lag_flat=growth <= rate * 1.0,
            spurious_timeouts=timeouts,
            unfinished=unfinished,
            rss_mb=rss,
            cpu_share=cpu,
        )


# Where each service keeps its inbox and outbox, and the group whose receipts its inbox holds.
HISTORY_TABLES = {
    "order_db": "order-service",
    "inventory_db": "inventory-service",
    "payment_db": "payment-service",
}
HISTORY_CHUNK = 500_000
HISTORY_TOPIC = "history.events"  # no group commits on it: the pruning never takes these rows


# Inserting tens of millions of rows with random keys into a small buffer pool reads a page from
# disk for almost every row: the history is written with a larger pool, and the measured phases
# run with the server's own again (a history that outgrew memory).
HISTORY_BUFFER_POOL = 8 * 2**30
# On disk per history row (one-byte payloads, as the issue measured), with room for page splits.
HISTORY_BYTES_PER_ROW = {"inbox": 180, "outbox": 285}
HISTORY_DISK_HEADROOM = 1.5


def refuse_without_disk(stack: Stack, rows: int) -> None:
    """Stop before writing when MariaDB's disk cannot take the history: a full disk mid-insert
    would stop the whole stack, not only the benchmark."""
    datadir = stack.mariadb.run_sql("SELECT @@datadir").strip()
    needed = rows * len(HISTORY_TABLES) * sum(HISTORY_BYTES_PER_ROW.values()) * HISTORY_DISK_HEADROOM
    free = shutil.disk_usage(datadir).free
    if free < needed:
        raise SystemExit(
            f"bench_saga.py: --history {rows:,} needs about {needed / 2**30:,.1f} GiB "
            f"in {datadir}, which has {free / 2**30:,.1f} GiB free"
        )
    say(f"history: about {needed / 2**30:,.1f} GiB of {free / 2**30:,.1f} GiB free in {datadir}")


def add_history(stack: Stack, rows: int, days: float = 2.5) -> None:
    """``rows`` rows of history in every inbox and outbox, spread over the last ``days`` (inside
    both retentions, so the services' pruning leaves them alone), written outside the binlog
    (``sql_log_bin=0``): nothing is published. MariaDB's sequence engine generates them."""
    span_us = int(days * 86400 * 1_000_000)
    pool = int(stack.mariadb.run_sql("SELECT @@innodb_buffer_pool_size").strip())
    if pool < HISTORY_BUFFER_POOL:
        say(
            f"history: buffer pool {pool / 2**20:,.0f} MB -> {HISTORY_BUFFER_POOL / 2**20:,.0f} MB "
            "while it is written"
        )
        stack.mariadb.run_sql(f"SET GLOBAL innodb_buffer_pool_size = {HISTORY_BUFFER_POOL}")
    started = time.monotonic()
    try:
        for database, group in HISTORY_TABLES.items():
            done = 0
            while done < rows:
                n = min(HISTORY_CHUNK, rows - done)
                ago = f"UTC_TIMESTAMP(6) - INTERVAL (({done} + seq) * {span_us // max(rows, 1)}) MICROSECOND"
                stack.mariadb.run_sql(
                    f"""
SET SESSION sql_log_bin = 0;
INSERT INTO {database}.inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset,
  processed_at, aggregate_type, aggregate_id, aggregate_version, outcome)
SELECT '{group}', UUID(), 'HistoryEvent', '{HISTORY_TOPIC}', seq % 6, {done} + seq, {ago}, 'history',
  UUID(), 1, 'applied' FROM {database}.seq_1_to_{n};
INSERT INTO {database}.outbox (id, aggregatetype, aggregateid, type, aggregate_version, payload, occurred_at)
SELECT UUID(), 'history', UUID(), 'HistoryEvent', 1, 'x', {ago} FROM {database}.seq_1_to_{n};
""",
                    timeout=3600,
                )
                done += n
                elapsed = time.monotonic() - started
                say(
                    f"history: {database}: {done:,} of {rows:,} rows in its inbox and its outbox "
                    f"({elapsed:.0f} s so far)"
                )
    finally:
        if pool < HISTORY_BUFFER_POOL:
            stack.mariadb.run_sql(f"SET GLOBAL innodb_buffer_pool_size = {pool}")
            say(f"history: buffer pool back to {pool / 2**20:,.0f} MB")


def remove_history(stack: Stack) -> None:
    """The history rows again (they would otherwise stay: no group commits on their topic). With
    the services stopped, each table's other rows are copied to a new table that then takes its
    place (outside the binlog, same definition): deleting tens of millions of rows would take
    longer than writing them did."""
    for database in HISTORY_TABLES:
        for table, keep in (
            ("inbox", f"topic <> '{HISTORY_TOPIC}'"),
            ("outbox", "aggregatetype <> 'history'"),
        ):
            stack.mariadb.run_sql(
                f"""
SET SESSION sql_log_bin = 0;
DROP TABLE IF EXISTS {database}.{table}_kept, {database}.{table}_history;
CREATE TABLE {database}.{table}_kept LIKE {database}.{table};
INSERT INTO {database}.{table}_kept SELECT * FROM {database}.{table} WHERE {keep};
RENAME TABLE {database}.{table} TO {database}.{table}_history, {database}.{table}_kept TO {database}.{table};
DROP TABLE {database}.{table}_history;
""",
                timeout=3600,
            )
        say(f"history: removed from {database}")


def table_rows(stack: Stack) -> dict[str, int]:
    counts = stack.mariadb.run_sql(
        " UNION ALL ".join(
            f"SELECT '{db}.{table}', COUNT(*) FROM {db}.{table}"
            for db in HISTORY_TABLES
            for table in ("inbox", "outbox")
        )
    )
    return {name: int(count) for name, count in (line.split("\t") for line in counts.splitlines())}


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def print_phase(result: PhaseResult) -> None:
    def fmt(p: dict[str, Any]) -> str:
        return f"p50 {p['p50']} / p95 {p['p95']} / p99 {p['p99']} / max {p['max']} ms (n={p['n']})"

    print(
        f"\n== offered {result.rate:g} orders/s for {result.duration_s:.0f}s: "
        f"achieved {result.achieved_rate:g}/s, "
        f"{result.orders} orders; all final {result.drained_after_s}s after the load "
        f"(unfinished {result.unfinished}); spurious timeouts {result.spurious_timeouts}"
    )
    print(f"   saga (OrderCreated -> final event): {fmt(result.saga_ms)}")
    for hop, figures in result.hops_ms.items():
        print(f"   hop {hop:<38} {fmt(figures)}")
    print(
        f"   lag at start {result.lag_start} -> end {result.lag_end}: "
        f"{'flat' if result.lag_flat else 'GROWING'}"
    )
    print(f"   CPU (% of one core): {result.cpu_share}")
    print(
        "   RSS MB (start/end/max): "
        + ", ".join(f"{k} {v['start']}/{v['end']}/{v['max']}" for k, v in result.rss_mb.items())
    )


# -- references -------------------------------------------------------------------------------


class RecordingOutboxWriter:
    """An outbox writer that also keeps what it wrote: the ceiling feeds each emitted event to
    the next service's handler directly, as Kafka would have."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.recorded: list[Any] = []

    def row(self, event: Any) -> dict[str, Any]:
        self.recorded.append(event)
        return self.inner.row(event)

    def write(self, connection: Any, rows: list[dict[str, Any]]) -> None:
        self.inner.write(connection, rows)


def ceiling_worker(duration_s: float, sku: str, batch: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One connection's worth of saga transactions, as fast as the database takes them: orders
    placed one per transaction, as the writers do, and each service's records applied in
    batches of ``batch``, as the consumer runtime does."""

    from eventcore.consuming.applier import RecordApplier
    from eventcore.consuming.records import ConsumedEvent
    from eventcore.serialization.avro import AvroEventDeserializer
    from eventcore.serialization.events import EventRoutes
    from services.inventory.commands import HANDLERS as INVENTORY
    from services.order.commands import HANDLERS as ORDER_HANDLERS
    from services.payment.commands import HANDLERS as PAYMENT_HANDLERS

    settings = Settings.load()
    contexts = build_all(settings, migrate=False)
    recorder: dict[str, RecordingOutboxWriter] = {}
    for name, ctx in list(contexts.items()):
        recorder[name] = RecordingOutboxWriter(ctx.outbox)
        ctx.outbox = recorder[name]  # type: ignore[assignment]  (its units of work read it when opened)
    routes = {
        "inventory": INVENTORY,
        "payment": PAYMENT_HANDLERS,
        "order": ORDER_HANDLERS,
    }
    handlers = {name: EventRoutes(routed, name).record_handlers() for name, routed in routes.items()}
    appliers = {
        name: RecordApplier(
            f"ceiling-{name}",
            handlers[name],
            contexts[name].uow_factory,
            contexts[name].messaging,
            AvroEventDeserializer(contexts[name].registry, contexts[name].catalog),
        )
        for name in handlers
    }

    def consumed(topic: str, event: Any) -> ConsumedEvent:
        return ConsumedEvent(
            topic,
            0,
            0,
            event.aggregate_id,
            {},
            event.event_id,
            event.event_type,
            event.aggregate_version,
            dict(event.record()),
            0,
            time.time(),
        )

    def apply(service: str, topic: str, events: list[Any]) -> None:
        """One batch, one transaction: what the consumer runtime does with a fetch."""
        appliers[service].apply_events([consumed(topic, e) for e in events])

    done = 0
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        for writer in recorder.values():
            writer.recorded.clear()
        for _ in range(batch):
            place_order(contexts["order"].uow_factory, "ceiling", [OrderLine(sku, 1, 100)])
        apply("inventory", "order.events", list(recorder["order"].recorded))
        reserved = list(recorder["inventory"].recorded)
        apply("payment", "inventory.events", reserved)
        apply("order", "inventory.events", reserved)
        apply("order", "payment.events", list(recorder["payment"].recorded))
        done += batch
    results.put(done)


def db_ceiling(contexts: dict[str, Any], connections: int, duration_s: float, batch: int) -> dict[str, Any]:
    """The same transactions the saga commits, through the same handlers, inbox and version
    guard, with no Kafka, from as many processes as the saga has connections: how many orders
    per second the database (and the Python that drives it) takes."""
    sku = f"CEIL-{uuid.uuid4().hex[:6]}"
    set_stock(contexts["inventory"].uow_factory, sku, 2_000_000_000)
    spawn = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = spawn.Queue()  # type: ignore[type-arg]
    workers = [
        spawn.Process(target=ceiling_worker, args=(duration_s, sku, batch, queue)) for _ in range(connections)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    total = sum(queue.get(timeout=duration_s + 120) for _ in workers)
    elapsed = time.monotonic() - started - 2.0  # the workers' start-up, roughly
    for worker in workers:
        worker.join(30)
    return {
        "connections": connections,
        "orders": total,
        "orders_per_s": round(total / max(elapsed, 1.0), 1),
        "batch": batch,
    }


relay_metadata = MetaData()
relay_outbox = Table(
    "bench_relay_outbox",
    relay_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("aggregateid", String(64), nullable=False),
    Column("payload", MEDIUMBLOB, nullable=False),
    Column("occurred_at", DATETIME(fsp=6), nullable=False),
    Column("published_at", DATETIME(fsp=6)),
    Index("ix_bench_relay_unpublished", "published_at", "seq"),
)


def relay_reference(
    contexts: dict[str, Any], rate: float, duration_s: float, poll_ms: float | None, stack: Stack
) -> dict[str, Any]:
    """Commit-to-consume at ``rate`` through a polling relay (``poll_ms``) or Debezium (None),
    measured by a plain reader, with the database's CPU over the window."""
    from confluent_kafka import Consumer, Producer

    from eventcore.kafka.clients import consumer_config, ensure_topics, producer_config

    settings: Settings = contexts["order"].settings
    engine = contexts["order"].engine
    relay_metadata.create_all(engine)
    topic = "bench-relay.events" if poll_ms is not None else "order.events"
    ensure_topics(settings.kafka_bootstrap_servers, [topic])
    reader = Consumer(
        consumer_config(
            settings.kafka_bootstrap_servers,
            f"bench-reader-{uuid.uuid4()}",
            **{"auto.offset.reset": "latest"},
        )
    )
    reader.subscribe([topic])
    deadline = time.monotonic() + 20
    while not reader.assignment() and time.monotonic() < deadline:
        reader.poll(0.2)
    stop = threading.Event()
    latencies: list[float] = []
    keys: set[str] = set()
    run = f"relay-{uuid.uuid4().hex[:6]}"

    deserializer = None
    if poll_ms is None:
        from eventcore.serialization.avro import AvroEventDeserializer

        deserializer = AvroEventDeserializer(contexts["order"].registry, contexts["order"].catalog)

    def read() -> None:
        from eventcore.consuming.records import decode

        while not stop.is_set():
            message = reader.poll(0.1)
            if message is None or message.error() is not None or message.key() is None:
                continue
            if message.key().decode() not in keys:
                continue
            if deserializer is not None:
                latency = decode(message, deserializer).latency_ms()
                if latency is not None:
                    latencies.append(latency)
            else:
                committed = float(dict(message.headers() or [])["bench.committed"].decode())
                latencies.append((time.time() - committed) * 1000)

    def relay() -> None:
        producer = Producer(producer_config(settings.kafka_bootstrap_servers))
        with engine.connect() as c:
            while not stop.is_set():
                rows = c.execute(
                    select(relay_outbox)
                    .where(relay_outbox.c.published_at.is_(None))
                    .order_by(relay_outbox.c.seq)
                    .limit(1000)
                ).all()
                for r in rows:
                    producer.produce(
                        topic,
                        key=r.aggregateid,
                        value=r.payload,
                        headers=[
                            ("id", r.id),
                            ("bench.committed", str(r.occurred_at.replace(tzinfo=UTC).timestamp())),
                        ],
                    )
                if rows:
                    producer.flush(30)
                    c.execute(
                        update(relay_outbox)
                        .where(relay_outbox.c.seq.in_([r.seq for r in rows]))
                        .values(published_at=datetime.now(UTC).replace(tzinfo=None))
                    )
                c.commit()
                stop.wait((poll_ms or 100) / 1000)

    threads = [threading.Thread(target=read, daemon=True)]
    if poll_ms is not None:
        threads.append(threading.Thread(target=relay, daemon=True))
    for thread in threads:
        thread.start()
    mariadb_pid = stack.mariadb.process.running_pid()
    cpu_before = process_usage(mariadb_pid)[1] if mariadb_pid else 0.0
    started = time.monotonic()
    count = int(rate * duration_s)
    for n in range(count):
        due = started + n / rate
        time.sleep(max(0.0, due - time.monotonic()))
        key = str(uuid.uuid4())
        keys.add(key)
        if poll_ms is None:
            # The real path: OrderCreated through the outbox and Debezium. The commit time is the
            # outbox row's occurredAt, which the reader takes from the record itself.
            order = place_order(contexts["order"].uow_factory, run, [OrderLine("RELAY", 1, 1)], order_id=key)
            del order
        else:
            with engine.begin() as c:
                now = datetime.now(UTC).replace(tzinfo=None)
                c.execute(
                    relay_outbox.insert().values(
                        id=str(uuid.uuid4()), aggregateid=key, payload=b"\x00" * 200, occurred_at=now
                    )
                )
    time.sleep(3)
    elapsed = time.monotonic() - started
    cpu_after = process_usage(mariadb_pid)[1] if mariadb_pid else 0.0
    stop.set()
    for thread in threads:
        thread.join(10)
    reader.close()
    return {
        "path": "debezium" if poll_ms is None else f"polling relay every {poll_ms:g} ms",
        "rate": rate,
        "latency_ms": percentiles(latencies),
        "mariadb_cpu_pct": round((cpu_after - cpu_before) / elapsed * 100, 1),
    }


# -- report ------------------------------------------------------------------------------------


def plot(report: dict[str, Any], samples: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = report["phases"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    rates = [p["rate"] for p in phases]
    for label, pick in (
        ("saga", lambda p: p["saga_ms"]),
        *((hop, lambda p, hop=hop: p["hops_ms"][hop]) for hop in (phases[0]["hops_ms"] if phases else {})),
    ):
        for quantile, style in (("p50", "-o"), ("p99", "--x")):
            values = [pick(p)[quantile] for p in phases]
            if any(v is not None for v in values):
                left.plot(rates, values, style, label=f"{label} {quantile}")
    left.set_xlabel("offered orders/s")
    left.set_ylabel("ms (log)")
    left.set_yscale("log")
    left.set_title("commit-to-apply per hop, and the saga")
    left.legend(fontsize=7)
    left.grid(True, which="both", alpha=0.3)
    if samples:
        t0 = samples[0]["t"]
        groups = sorted({g for s in samples for g in s.get("lag", {})})
        for group in groups:
            right.plot(
                [s["t"] - t0 for s in samples], [s.get("lag", {}).get(group) for s in samples], label=group
            )
        for p in phases:
            right.axvspan(p["window"][0] - t0, p["window"][1] - t0, alpha=0.08)
            right.text(
                p["window"][0] - t0,
                right.get_ylim()[1] * 0.95 if right.get_ylim()[1] else 1,
                f"{p['rate']:g}/s",
                fontsize=7,
            )
    right.set_xlabel("seconds")
    right.set_ylabel("records not yet committed")
    right.set_title("consumer lag over time (shaded: load at each rate)")
    right.legend(fontsize=7)
    right.grid(True, alpha=0.3)
    fig.suptitle(report["title"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def positive(kind: type = float) -> Callable[[str], float]:
    return number_argument(kind, above=0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="bench_saga.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=positive(), action="append", help="offered orders/s (repeatable)")
    parser.add_argument(
        "--duration", type=positive(), default=60.0, help="seconds of load per rate (default 60)"
    )
    parser.add_argument("--writers", type=positive(int), default=2, help="writer processes (default 2)")
    parser.add_argument("--find-max", action="store_true", help="step the rate up until lag grows")
    parser.add_argument("--start", type=positive(), default=50.0, help="--find-max: first rate (default 50)")
    parser.add_argument("--step", type=positive(), default=50.0, help="--find-max: increment (default 50)")
    parser.add_argument("--max-rate", type=positive(), default=1000.0, help="--find-max: stop here")
    parser.add_argument(
        "--references",
        action="store_true",
        help="also the database's ceiling and polling relays (services stopped)",
    )
    parser.add_argument("--reference-rate", type=positive(), default=50.0, help="default 50 orders/s")
    parser.add_argument("--reference-seconds", type=positive(), default=30.0)
    parser.add_argument(
        "--ceiling-batch",
        type=positive(int),
        default=10,
        help="records per transaction in the database ceiling (default 10, a fetch under load)",
    )
    parser.add_argument(
        "--instances",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N instances of a service in its group (repeatable), e.g. inventory=2",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the three services (repeatable), e.g. CONSUMER_APPLY_IN_BATCHES=false",
    )
    parser.add_argument(
        "--drain-timeout",
        type=positive(),
        default=300.0,
        help="seconds to wait for the orders of a rate to finish after its load",
    )
    parser.add_argument(
        "--history",
        type=positive(int),
        default=None,
        metavar="N",
        help="run the rates, add N rows of history to every inbox and outbox (outside the binlog), "
        "run them again, and compare",
    )
    parser.add_argument(
        "--warm-up",
        type=number_argument(at_least=0.0),
        default=30.0,
        metavar="S",
        help="unmeasured load at the first rate for S seconds before the rates (and again after "
        "--history adds its rows); default 30, 0 for none",
    )
    parser.add_argument(
        "--table-sizes",
        type=positive(),
        default=None,
        metavar="S",
        help="count the rows of every inbox and outbox every S seconds (a soak: do they stay flat?)",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="JSON (default .state/bench/saga-<run>.json)"
    )
    args = parser.parse_args(argv)
    for setting in args.service_env:
        if "=" not in setting:
            parser.error(f"--service-env {setting!r} is not KEY=VALUE")
    for setting in args.instances:
        name, _, count = setting.partition("=")
        if name not in flow_services() or not count.isdigit() or not 1 <= int(count) <= 6:
            parser.error(
                f"--instances {setting!r} is not SERVICE=N with a service of {flow_services()} and N 1..6"
            )
    if not args.rate and not args.find_max and not args.references:
        args.rate = [50.0]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli("bench_saga", lambda: bench(args))


def bench(args: argparse.Namespace) -> int:
    configure_logging()
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    Stack().up()
    bench = SagaBench(args)
    if args.history:
        refuse_without_disk(bench.stack, args.history)
    report: dict[str, Any] = {
        "title": f"bench_saga run {bench.run_id}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{multiprocessing.cpu_count()} cores, writers {args.writers}",
        "phases": [],
        "references": [],
        "max_flat_rate": None,
    }
    bench.start_services()
    stop = multiprocessing.get_context("spawn").Event()
    sampler_process = multiprocessing.get_context("spawn").Process(
        target=sampler, args=(bench.pids(), str(bench.samples_path), stop, 1.0, args.table_sizes)
    )
    sampler_process.start()
    try:
        rates = list(args.rate or [])
        if args.find_max:
            rate = args.start
            while rate <= args.max_rate:
                rates.append(rate)
                rate += args.step
        rounds = ["before", "after"] if args.history else [None]
        for round_name in rounds:
            if round_name == "after":
                say(f"adding {args.history:,} rows of history to every inbox and outbox")
                add_history(bench.stack, args.history)
                report["history_rows"] = table_rows(bench.stack)
                say(f"rows now: {report['history_rows']}")
            if args.warm_up and rates:
                # Unmeasured: a cold MariaDB (or a buffer pool full of history) would otherwise
                # count against whichever round comes first.
                say(f"warm-up: {rates[0]:g} orders/s for {args.warm_up:g}s (not measured)")
                bench.run_phase(rates[0], args.warm_up)
            for rate in rates:
                started = time.time()
                result = bench.run_phase(rate, args.duration)
                print_phase(result)
                report["phases"].append(
                    {**asdict(result), "window": [started, time.time()], "history": round_name}
                )
                if result.lag_flat and result.unfinished == 0:
                    report["max_flat_rate"] = max(report["max_flat_rate"] or 0, rate)
                elif args.find_max:
                    say(
                        f"lag grew at {rate:g}/s: the highest rate with lag flat is {report['max_flat_rate']}"
                    )
                    break
    finally:
        stop.set()
        sampler_process.join(30)
        bench.stop_services()
        if args.history:
            remove_history(bench.stack)
    if args.references:
        say(f"references at {args.reference_rate:g} orders/s (services stopped)")
        connections = args.writers + 3
        report["references"].append(
            {
                "db_ceiling": db_ceiling(
                    bench.contexts, connections, args.reference_seconds, args.ceiling_batch
                )
            }
        )
        for poll_ms in (None, 100.0, 10.0):
            report["references"].append(
                relay_reference(
                    bench.contexts, args.reference_rate, args.reference_seconds, poll_ms, bench.stack
                )
            )
        for reference in report["references"]:
            print(f"   reference: {json.dumps(reference)}")
    path = args.report or REPO_ROOT / ".state" / "bench" / f"saga-{bench.run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    samples = (
        [json.loads(line) for line in bench.samples_path.read_text().splitlines()]
        if bench.samples_path.exists()
        else []
    )
    if report["phases"]:
        plot(report, samples, path.with_suffix(".png"))
        say(f"figures: {path} and {path.with_suffix('.png')}")
    else:
        say(f"figures: {path}")
    if args.find_max:
        print(f"highest rate with lag flat: {report['max_flat_rate']} orders/s")
    if args.history:
        print_history_comparison(report["phases"])
    sizes = [(row["t"], row["table_rows"]) for row in samples if "table_rows" in row]
    if sizes:
        report["table_rows"] = sizes
        path.write_text(json.dumps(report, indent=2, default=str))
        print_table_sizes(sizes)
    return 0


def print_table_sizes(sizes: list[tuple[float, dict[str, int]]]) -> None:
    """Each table's rows at the start, after each quarter of the run and at the end."""
    start = sizes[0][0]
    marks = sorted({0, len(sizes) // 4, len(sizes) // 2, 3 * len(sizes) // 4, len(sizes) - 1})
    print("\n== rows of each table over the run (minutes from the start)")
    print("   " + f"{'table':<22}" + "".join(f"{(sizes[i][0] - start) / 60:>10.1f}" for i in marks))
    for table in sizes[0][1]:
        print("   " + f"{table:<22}" + "".join(f"{sizes[i][1].get(table, 0):>10,}" for i in marks))


def flat(phase: dict[str, Any]) -> str:
    return "flat" if phase["lag_flat"] else "GROWING"


def print_history_comparison(phases: list[dict[str, Any]]) -> None:
    """Per rate: the saga's p50/p99 and the achieved rate with empty tables and with history."""
    print("\n== with history vs without (same rates, same run)")
    print(f"   {'rate':>6}  {'saga p50 ms':>17}  {'saga p99 ms':>17}  {'achieved/s':>15}  lag")
    for before in (p for p in phases if p["history"] == "before"):
        after = next((p for p in phases if p["history"] == "after" and p["rate"] == before["rate"]), None)
        if after is None:
            continue

        def pair(key: str, phase_a: dict[str, Any] = before, phase_b: dict[str, Any] = after) -> str:
            return f"{phase_a['saga_ms'][key]} -> {phase_b['saga_ms'][key]}"

        print(
            f"   {before['rate']:>6g}  {pair('p50'):>17}  {pair('p99'):>17}  "
            f"{before['achieved_rate']:>6g} -> {after['achieved_rate']:<6g}  "
            f"{flat(before)} -> {flat(after)}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
