"""The saga at one offered rate: writer processes, the sampler, and the figures of a phase."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from devstack.stack import Stack
from outboxkit import Settings
from saga_bench import say
from saga_bench.history import chunks, table_rows
from saga_bench.jmx import (
    CONNECT_QUERIES,
    KAFKA_QUERIES,
    JvmCounters,
    connect_counts,
    database_counts,
    database_status_sql,
    kafka_counts,
    per_order,
)
from services import ROOT, build_all, flow_services
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
    results: multiprocessing.Queue,  # type: ignore[type-arg]  # of (placed, errors) counts
) -> None:
    """Places orders at ``rate`` per second from ``start_at`` (epoch) for ``duration_s``: open
    loop, so a slow pipeline does not slow the offered load; a late writer says how late."""
    order_context = build_all(Settings.load(), migrate=False)["order"]
    count = int(rate * duration_s)
    cpu_at_start = time.process_time()
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
    results.put(
        {
            "placed": placed,
            "worst_lateness_s": round(worst_lateness, 3),
            "cpu_s": time.process_time() - cpu_at_start,
        }
    )


def sampler(
    pids: dict[str, int],
    out: str,
    stop: Any,
    interval_s: float = 1.0,
    tables_every_s: float | None = None,
    quiet: Any = None,
) -> None:
    """Once a second: each group's lag, each process's RSS and CPU seconds (JSON lines); every
    ``tables_every_s``, the rows of each inbox and outbox. While ``quiet`` is set (the idle
    window), only the processes' figures: asking the broker for lag would be load of its own."""
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
            if quiet is None or not quiet.is_set():
                try:
                    row["lag"] = probe.lag()
                except Exception as exc:  # a sample lost, not the run
                    row["lag_error"] = str(exc)
            row["proc"] = {name: process_usage(pid) for name, pid in pids.items()}
            row["jit"] = {name: jit_seconds(pid) for name, pid in pids.items() if is_jvm(name)}
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            stop.wait(interval_s)
    probe.close()


# A JVM's just-in-time compiler threads (HotSpot names them so): the CPU a freshly started Kafka or
# Connect spends compiling its hot paths for the first minutes of load, once per start, not per order.
JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
# The warm-up goes on in steps of this long until the compilers use at most this much of a core.
WARM_UP_STEP_S = 20.0
JIT_QUIET_PCT = 2.0


def jit_seconds(pid: int) -> float:
    """CPU seconds a process's JIT compiler threads have used so far (0 for a process without)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if comm.startswith(JIT_THREADS):
            total += int(rest[11]) + int(rest[12])
    return total / os.sysconf("SC_CLK_TCK")


def is_jvm(process: str) -> bool:
    return process.startswith(("kafka", "connect", "registry"))


def jit_seconds_used(window: list[dict[str, Any]]) -> dict[str, float]:
    """Each JVM's JIT-compiler CPU seconds over the samples ``window``."""
    if len(window) < 2:
        return {}
    first, last = window[0].get("jit", {}), window[-1].get("jit", {})
    return {name: last[name] - first[name] for name in last if name in first}


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
    # CPU milliseconds per order over the phase (load and drain), per process and per group
    # (plumbing, database, services; the writers apart), and Kafka + Connect's share of the stack.
    cpu_ms_per_order: dict[str, float] = field(default_factory=dict)
    cpu_groups_ms_per_order: dict[str, float] = field(default_factory=dict)
    kafka_connect_share_pct: float | None = None
    # Of cpu_ms_per_order, what each JVM's JIT compiler spent: large only while it is still warming.
    jit_ms_per_order: dict[str, float] = field(default_factory=dict)
    writers: int = 0
    writer_limited: bool = False
    # Per order: the broker's requests by kind; Debezium's binlog events and records sent.
    kafka_per_order: dict[str, float] = field(default_factory=dict)
    connect_per_order: dict[str, float] = field(default_factory=dict)
    # Per order: the database's statements, commits, fsyncs and binlog bytes.
    database_per_order: dict[str, float] = field(default_factory=dict)


# Which group each measured process belongs to; everything else is plumbing (Kafka, Connect,
# the registry, the CDC supervisor, Jaeger).
def group_of(process: str) -> str:
    if process.endswith("-service"):
        return "services"
    if process in ("mariadb", "mysql"):
        return "database"
    return "plumbing"


def cpu_groups(cpu_by_process: dict[str, float]) -> dict[str, float]:
    groups: dict[str, float] = defaultdict(float)
    for name, value in cpu_by_process.items():
        groups[group_of(name)] += value
    return {name: round(groups[name], 2) for name in ("plumbing", "database", "services") if name in groups}


def cpu_seconds_used(window: list[dict[str, Any]]) -> tuple[dict[str, float], float]:
    """Each process's CPU seconds over the samples ``window``, and the window's length."""
    if len(window) < 2:
        return {}, 0.0
    first, last = window[0]["proc"], window[-1]["proc"]
    used = {name: last[name][1] - first[name][1] for name in last if first.get(name) and last.get(name)}
    return used, window[-1]["t"] - window[0]["t"]


def kafka_connect_share(cpu_by_process: dict[str, float]) -> float | None:
    """Kafka's and Connect's CPU as a percentage of the whole stack's (the writers are not the stack)."""
    total = sum(cpu_by_process.values())
    ours = sum(v for k, v in cpu_by_process.items() if k.startswith(("kafka", "connect")))
    return round(ours / total * 100, 1) if total else None


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
        self.samples_path = ROOT / ".state" / "bench" / f"saga-{self.run_id}-samples.jsonl"
        self.samples_path.parent.mkdir(parents=True, exist_ok=True)
        self.kafka_probe: JvmCounters | None = None
        self.quiet = multiprocessing.get_context("spawn").Event()  # the sampler asks no lag
        self.connect_probe: JvmCounters | None = None

    def start_services(self, extra_env: dict[str, str] | None = None) -> None:
        refuse_if_services_run(self.settings)
        for sku in self.skus:
            set_stock(self.contexts["inventory"].uow_factory, sku, 2_000_000_000)
        env = {
            "PAYMENT_LIMIT_CENTS": str(10**12),
            **dict(kv.split("=", 1) for kv in self.args.service_env),
            **(extra_env or {}),
        }
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
        # Every part that runs (Jaeger too, with tracing on): they all share the machine's cores.
        for component in self.stack.components:
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
        counters_before = self.counters()
        outcomes = [queue.get(timeout=duration_s + 600) for _ in processes]
        for process in processes:
            process.join(30)
        load_end = time.time()
        drained_after = self.wait_final(customer, timeout_s=self.args.drain_timeout)
        counters_after = self.counters()
        result = self.measure(rate, duration_s, customer, start_at, load_end, outcomes, drained_after)
        result.kafka_per_order = per_order(
            kafka_counts(counters_before[0]), kafka_counts(counters_after[0]), result.orders
        )
        result.connect_per_order = per_order(
            connect_counts(counters_before[1]), connect_counts(counters_after[1]), result.orders
        )
        result.database_per_order = per_order(counters_before[2], counters_after[2], result.orders)
        return result

    def counters(self) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        """The broker's, Connect's and the database's counters now (empty where none is read)."""
        try:
            database = database_counts(self.stack.mariadb.run_sql(database_status_sql()))
        except Exception as exc:  # a figure lost, not the run
            say(f"no database counters: {exc}")
            database = {}
        return (
            self.kafka_probe.sample() if self.kafka_probe else {},
            self.connect_probe.sample() if self.connect_probe else {},
            database,
        )

    def start_probes(self) -> None:
        kafka, connect = self.stack.kafka.process.running_pid(), self.stack.connect.process.running_pid()
        try:
            self.kafka_probe = JvmCounters(kafka, KAFKA_QUERIES) if kafka else None
            self.connect_probe = JvmCounters(connect, CONNECT_QUERIES) if connect else None
        except FileNotFoundError as exc:
            say(f"no request counts: {exc}")

    def close_probes(self) -> None:
        for probe in (self.kafka_probe, self.connect_probe):
            if probe is not None:
                probe.close()

    def warm_up(self, rate: float, minimum_s: float, longest_s: float) -> None:
        """Unmeasured load at ``rate`` for ``minimum_s``, then on in short steps until the JVMs' JIT
        compilers are quiet (or ``longest_s`` in all): a Kafka or Connect started minutes ago
        still spends a third of a core compiling, which no later order pays again."""
        say(f"warm-up: {rate:g} orders/s for {minimum_s:g}s, then until the JVMs stop compiling")
        started = time.time()
        step = minimum_s
        while True:
            step_started = time.time()
            self.run_phase(rate, step)
            window = self.samples(step_started, time.time())
            span = window[-1]["t"] - window[0]["t"] if len(window) >= 2 else 0.0
            compiling = sum(jit_seconds_used(window).values()) / span * 100 if span else 0.0
            spent = time.time() - started
            if compiling <= JIT_QUIET_PCT:
                say(f"warm-up: done after {spent:.0f}s (JIT compilers at {compiling:.1f}% of a core)")
                return
            if spent >= longest_s:
                say(
                    f"warm-up: JIT compilers still at {compiling:.1f}% of a core after {spent:.0f}s "
                    "(--warm-up-max): the figures below include their work"
                )
                return
            say(f"warm-up: JIT compilers at {compiling:.1f}% of a core; {WARM_UP_STEP_S:g}s more")
            step = WARM_UP_STEP_S

    def measure_idle(self, duration_s: float) -> dict[str, Any]:
        """Every process's CPU (% of one core) over ``duration_s`` with the services running and
        nothing flowing: what the stack costs to publish nothing."""
        self.wait_drained()
        time.sleep(5.0)  # the last records' commits and fetches settle
        say(f"idle: {duration_s:g}s with the services running and no orders (not a record flows)")
        self.quiet.set()
        try:
            before = self.counters()
            started = time.time()
            time.sleep(duration_s)
            window = self.samples(started, time.time())
            used, span = cpu_seconds_used(window)
            after = self.counters()
        finally:
            self.quiet.clear()
        share = {name: round(seconds / span * 100, 2) for name, seconds in used.items()} if span else {}
        kafka = {
            k: round((v - kafka_counts(before[0]).get(k, 0.0)) / duration_s, 2)
            for k, v in kafka_counts(after[0]).items()
            if v - kafka_counts(before[0]).get(k, 0.0) > 0
        }
        return {
            "duration_s": duration_s,
            "cpu_share": share,
            "cpu_groups": cpu_groups(share),
            "kafka_connect_pct": round(
                sum(v for k, v in share.items() if k.startswith(("kafka", "connect"))), 2
            ),
            "kafka_requests_per_s": kafka,
            "jit_pct": {name: round(s / span * 100, 2) for name, s in jit_seconds_used(window).items()}
            if span
            else {},
        }

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
        drained_at = load_end + (drained_after if drained_after is not None else self.args.drain_timeout)
        measured = self.samples(start_at, drained_at + 1.0)
        used, _span = cpu_seconds_used(measured)
        placed_total = sum(o["placed"] for o in outcomes)
        jit_ms = (
            {name: round(s / placed_total * 1000, 2) for name, s in jit_seconds_used(measured).items()}
            if placed_total
            else {}
        )
        cpu_ms = (
            {name: round(seconds / placed_total * 1000, 2) for name, seconds in used.items()}
            if placed_total
            else {}
        )
        writer_ms = (
            round(sum(o.get("cpu_s", 0.0) for o in outcomes) / placed_total * 1000, 2)
            if placed_total
            else 0.0
        )
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
        placed = placed_total
        achieved = round(placed / (load_end - start_at), 1)
        lateness = max(o["worst_lateness_s"] for o in outcomes)
        growth_ok = growth <= rate * 1.0
        return PhaseResult(
            rate=rate,
            duration_s=duration_s,
            orders=placed,
            achieved_rate=achieved,
            writer_worst_lateness_s=lateness,
            drained_after_s=drained_after,
            saga_ms=percentiles(saga),
            hops_ms=hops,
            lag_start=lag_start,
            lag_end=lag_end,
            # Flat: the backlog grew by less than one second of load while the load ran.
            lag_flat=growth_ok,
            spurious_timeouts=timeouts,
            unfinished=unfinished,
            rss_mb=rss,
            cpu_share=cpu,
            cpu_ms_per_order={**cpu_ms, "writers": writer_ms},
            cpu_groups_ms_per_order={**cpu_groups(cpu_ms), "writers": writer_ms},
            kafka_connect_share_pct=kafka_connect_share(cpu_ms),
            jit_ms_per_order=jit_ms,
            writers=len(outcomes),
            # The writers fell behind their schedule while the pipeline kept up with what they
            # placed: the stack was not the limit, and the achieved rate is a floor.
            writer_limited=growth_ok and (achieved < rate * 0.95 or lateness > 1.0),
        )


def stack_ms(result: PhaseResult) -> float:
    """The stack's CPU per order: plumbing, database and services (not the writers)."""
    return sum(v for k, v in result.cpu_groups_ms_per_order.items() if k != "writers")


def print_idle(idle: dict[str, Any]) -> None:
    print(f"\n== idle for {idle['duration_s']:g}s (services running, nothing flowing)")
    print(f"   CPU (% of one core): {idle['cpu_share']}")
    print(f"   by group: {idle['cpu_groups']}; Kafka + Connect {idle['kafka_connect_pct']}% of one core")
    print(f"     of which JIT compilation: {idle.get('jit_pct', {})}")
    if idle["kafka_requests_per_s"]:
        print(f"   Kafka requests per second: {idle['kafka_requests_per_s']}")


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
    print(f"   CPU ms per order: {result.cpu_groups_ms_per_order} (stack total {stack_ms(result):.2f})")
    print(f"   CPU ms per order by process: {result.cpu_ms_per_order}")
    print(f"     of which JIT compilation: {result.jit_ms_per_order}")
    print(f"   Kafka + Connect: {result.kafka_connect_share_pct}% of the stack's CPU")
    if result.kafka_per_order:
        print(f"   Kafka per order: {result.kafka_per_order}")
    if result.connect_per_order:
        print(f"   Connect per order: {result.connect_per_order}")
    if result.database_per_order:
        print(f"   database per order: {result.database_per_order}")
    if result.writer_limited:
        print(
            f"   WRITER-LIMITED: {result.writers} writer(s) could not place {result.rate:g}/s (worst "
            f"{result.writer_worst_lateness_s:g}s late) while the pipeline kept up: "
            f"{result.achieved_rate:g}/s is a floor of what the stack carries (--writers N adds "
            "writers; on two busy cores they compete with the stack)"
        )
    print(
        "   RSS MB (start/end/max): "
        + ", ".join(f"{k} {v['start']}/{v['end']}/{v['max']}" for k, v in result.rss_mb.items())
    )
