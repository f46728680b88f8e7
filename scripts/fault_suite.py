#!/usr/bin/env python3
"""Fault suite: orders at a steady rate while every part is killed, then every guarantee checked.

``python scripts/fault_suite.py --orders 5000 --rate 10`` on the native stack (``stack up``; it
registers the connectors and starts the roster's flow services). While the orders are placed, at
random moments, each of MariaDB, Kafka, Kafka Connect, the registry and each service is killed
with SIGKILL and restarted; there is one rebalance (a second instance of every service for a
while) and one database outage of ``--outage`` seconds. What it seeds, the orders it places and
the business invariants it checks are the flow's (``services/drill.py``). Then it waits for every order to
finish and checks, printing each figure:

- every order is final (CONFIRMED or CANCELLED); about 5% are cancelled by their customer while
  the saga runs, so the compensations race it too;
- the flow's business invariants (``services/drill.py``: what each participant holds adds up,
  nothing charged or given back twice, each saga ended as its order);
- every outbox row is on its topic, each aggregate's events in version order (``outboxkit cdc verify``);
- no consumer applied an aggregate's versions out of order (from each group's inbox);
- no dead letters: every record was valid, so the DLQs hold nothing of this run.

Exit 0 when every check holds, 1 when one does not, 2 for bad arguments. A JSON report goes to
``--report`` (default .state/fault-suite-<run>.json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from devstack import faults
from devstack.components.base import Component
from devstack.faults import PartitionWatch
from devstack.stack import Stack, start_together
from outboxkit import ServiceContext, Settings, UsageError
from outboxkit.cli import ArgumentParser, number_argument, run_cli
from outboxkit.ops import database_of, outbox_connectors, verify_publication
from services import ROOT, build_all, flow_services
from services.contracts import FLOWS
from services.drill import OrderFlowDrill
from services.instances import (
    GroupLagProbe,
    ServiceInstance,
    connector_topics,
    refuse_if_services_run,
    register_connectors,
)
from services.order.orchestration import OrderSaga, order_saga

CUSTOMER_CANCEL_SHARE = 0.05
CUSTOMER_CANCEL_REASON = "customer changed their mind"
# A broker's or a worker's death may stop the flow only this long (from the kill, or from the
# return of two brokers whose absence left the ISR below its minimum).
STALL_LIMIT_S = 15.0


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    run_id: str
    args: argparse.Namespace
    settings: Settings
    contexts: dict[str, ServiceContext[Any]]
    stack: Stack
    drill: OrderFlowDrill
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    services: dict[str, ServiceInstance] = field(default_factory=dict)
    extra: list[ServiceInstance] = field(default_factory=list)
    faults: list[dict[str, object]] = field(default_factory=list)
    placed: int = 0
    placement_retries: int = 0
    watch: PartitionWatch | None = None
    faults_done: threading.Event = field(default_factory=threading.Event)
    customer_cancels: int = 0
    instances: int = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def service_env(self) -> dict[str, str]:
        return {
            **self.drill.service_env(),
            "ORDER_SAGA_TIMEOUT_S": str(self.args.saga_timeout),
            "ORDER_SAGA_STEP_TIMEOUT_S": str(self.args.saga_timeout),
        }

    @property
    def saga(self) -> OrderSaga:
        return order_saga(self.args.saga_timeout)

    def flow_of_next_order(self, rng: random.Random) -> str:
        if self.args.flow == "mixed":
            return rng.choice(FLOWS)
        return str(self.args.flow)

    def start_service(self, name: str) -> ServiceInstance:
        self.instances += 1
        log_name = f"fault-{self.run_id}-{name}-{self.instances}"
        return ServiceInstance(name, log_name, self.service_env()).start()


def place_orders(run: Run, stop: threading.Event) -> None:
    """Open loop at --rate; while the database is down the writer waits and catches up. It places
    --orders, and goes on while faults still run: every fault meets traffic (a stall is measured
    by the records that flow after it)."""
    rng = random.Random(run.args.seed)
    interval = 1.0 / run.args.rate
    next_at = time.monotonic()
    for n in itertools.count():
        if stop.is_set() or (n >= run.args.orders and run.faults_done.is_set()):
            return
        next_at += interval
        order_seed, flow = rng.random(), run.flow_of_next_order(rng)  # the same order on every retry
        while not stop.is_set():
            try:
                order = run.drill.place(random.Random(order_seed), flow, run.saga)
                if rng.random() < CUSTOMER_CANCEL_SHARE:
                    # The customer changes their mind while the saga runs: compensation races it.
                    threading.Timer(rng.uniform(0, 0.3), cancel_if_open, (run, order.id)).start()
                break
            except Exception as exc:  # the database (or registry) is down: try again shortly
                run.placement_retries += 1
                if run.placement_retries % 20 == 1:
                    say(f"writer: placing order {n + 1} failed ({type(exc).__name__}); retrying")
                time.sleep(0.5)
        run.placed = n + 1
        if (n + 1) % max(1, run.args.orders // 10) == 0:
            say(f"writer: {n + 1} orders placed (--orders {run.args.orders})")
        time.sleep(max(0.0, next_at - time.monotonic()))


def cancel_if_open(run: Run, order_id: str) -> None:
    try:
        run.drill.cancel(order_id, CUSTOMER_CANCEL_REASON)
        run.customer_cancels += 1
    except Exception:  # already final, or the database is down right now: the customer gave up
        pass


# -- faults ----------------------------------------------------------------------------------


def kill_and_restart_part(run: Run, component: Component, down_s: float) -> dict[str, object]:
    killed = time.monotonic()
    pid = component.kill()
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    component.ensure_running()
    return {"what": f"SIGKILL {component.name}", "pid": pid, "down_s": round(time.monotonic() - killed, 1)}


def kill_and_restart_service(run: Run, name: str, down_s: float) -> dict[str, object]:
    victim = run.services[name]
    pid = victim.pid
    victim.stop(signal.SIGKILL)
    time.sleep(down_s)
    run.services[name] = run.start_service(name)
    return {"what": f"SIGKILL {name}-service", "pid": pid, "down_s": round(down_s, 1)}


def rebalance(run: Run, hold_s: float) -> dict[str, object]:
    """A second instance of every flow service joins (partitions move), then leaves (they move back)."""
    joined = [run.start_service(name) for name in flow_services()]
    run.extra.extend(joined)
    time.sleep(hold_s)
    codes = [instance.stop() for instance in joined]
    return {
        "what": f"rebalance: second instances of {', '.join(flow_services())} joined, then drained",
        "held_s": round(hold_s, 1),
        "exit_codes": codes,
    }


def database_outage(run: Run, seconds: float) -> dict[str, object]:
    result = kill_and_restart_part(run, run.stack.mariadb, seconds)
    return {**result, "what": f"database outage of {seconds:.0f}s (SIGKILL mariadb, kept down)"}


# -- the cluster's faults (--cluster) ---------------------------------------------------------


def stalled(run: Run, since: float, partitions: list[tuple[str, int]] | None) -> float | None:
    """Seconds from ``since`` until a record flowed through ``partitions`` (any flow partition if
    None or none), as the partition watch saw it."""
    assert run.watch is not None
    stall = run.watch.stall(since, partitions or None, timeout_s=180)
    return None if stall is None else round(stall, 1)


def kill_leader(run: Run, down_s: float) -> dict[str, object]:
    """SIGKILL the broker that leads the most partitions of the flow's topics."""
    node, partitions = faults.busiest_leader(run.settings.kafka_bootstrap_servers)
    victim = faults.broker(run.stack, node)
    killed = faults.kill(victim)
    stall = stalled(run, killed, partitions)
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    victim.ensure_running()
    return {
        "what": f"SIGKILL {victim.name}, the leader of {len(partitions)} flow partitions",
        "down_s": round(time.monotonic() - killed, 1),
        "stall_s": stall,
    }


def brokers_down(run: Run, count: int, down_s: float, rng: random.Random) -> dict[str, object]:
    """``count`` brokers down for ``down_s``: with one, the ISR shrinks to two and writes go on;
    with two, the ISR is below min.insync.replicas and every write waits until they return."""
    led = faults.leaders(run.settings.kafka_bootstrap_servers)
    # One of them leads partitions: killing brokers that lead none would stall nothing.
    leading = [b for b in run.stack.brokers if b.node in set(led.values())]
    first = rng.choice(leading)
    victims = [first, *rng.sample([b for b in run.stack.brokers if b is not first], count - 1)]
    hit = [key for key, node in led.items() if node in {v.node for v in victims}]
    killed = min(faults.kill(victim) for victim in victims)
    stall = stalled(run, killed, hit) if count == 1 else None
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    restarted = time.monotonic()
    start_together(victims)
    back = time.monotonic()  # the brokers answer again: from here the flow must resume
    record: dict[str, object] = {
        "what": f"{' and '.join(v.name for v in victims)} down for {down_s:.0f}s "
        + ("(ISR 2 of 3: writes go on)" if count == 1 else "(ISR below min.insync.replicas: writes wait)"),
        "down_s": round(restarted - killed, 1),
        "restart_s": round(back - restarted, 1),
    }
    if count == 1:
        record["stall_s"] = stall
    else:
        record["stall_after_return_s"] = stalled(run, back, None)
    return record


def kill_controller(run: Run, down_s: float) -> dict[str, object]:
    node = faults.active_controller(run.stack)
    victim = faults.broker(run.stack, node)
    partitions = [
        key for key, leader in faults.leaders(run.settings.kafka_bootstrap_servers).items() if leader == node
    ]
    killed = faults.kill(victim)
    stall = stalled(run, killed, partitions or None)
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    victim.ensure_running()
    return {
        "what": f"SIGKILL {victim.name}, the active controller",
        "down_s": round(time.monotonic() - killed, 1),
        "stall_s": stall,
    }


def kill_worker(run: Run, down_s: float) -> dict[str, object]:
    """SIGKILL the Connect worker running the most tasks: they move to the other worker."""
    worker, connectors = faults.busiest_worker(run.stack, run.settings.connect_url)
    topics = connector_topics(connectors)
    partitions = faults.partitions_of(run.settings.kafka_bootstrap_servers, topics)
    killed = faults.kill(worker)
    stall = stalled(run, killed, partitions)
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    worker.ensure_running()
    return {
        "what": f"SIGKILL {worker.name}, running {', '.join(connectors)} (its tasks move)",
        "down_s": round(time.monotonic() - killed, 1),
        "stall_s": stall,
    }


def cluster_faults(run: Run, rng: random.Random) -> list[tuple[str, Callable[[], dict[str, object]]]]:
    return [
        ("kill the busiest leader broker", lambda: kill_leader(run, rng.uniform(3, 8))),
        ("one broker down 60s", lambda: brokers_down(run, 1, 60.0, rng)),
        ("two brokers down 30s", lambda: brokers_down(run, 2, 30.0, rng)),
        ("kill the active controller", lambda: kill_controller(run, rng.uniform(3, 8))),
        ("kill the busiest Connect worker", lambda: kill_worker(run, 20.0)),
    ]


def fault_plan(run: Run, rng: random.Random) -> list[tuple[str, Callable[[], dict[str, object]]]]:
    stack = run.stack
    parts: list[tuple[str, Callable[[], dict[str, object]]]] = []
    for _round in range(run.args.rounds):
        # On a cluster, Kafka and Connect get the cluster's own faults instead (below).
        single = [] if run.args.cluster else [stack.kafka, stack.connect]
        for component in (stack.mariadb, *single, stack.registry):
            parts.append(
                (
                    f"kill {component.name}",
                    partial(kill_and_restart_part, run, component, rng.uniform(0.5, 3)),
                )
            )
        if run.args.cluster:
            parts.extend(cluster_faults(run, rng))
        for name in flow_services():
            parts.append(
                (f"kill {name}-service", partial(kill_and_restart_service, run, name, rng.uniform(0.5, 3)))
            )
    parts.append(("rebalance", lambda: rebalance(run, rng.uniform(10, 20))))
    parts.append(("outage", lambda: database_outage(run, run.args.outage)))
    rng.shuffle(parts)
    return parts


def inject_faults(
    run: Run, plan: list[tuple[str, Callable[[], dict[str, object]]]], window_s: float, rng: random.Random
) -> None:
    """One fault after another at random moments spread over the placement window."""
    moments = sorted(rng.uniform(0.05, 0.9) * window_s for _ in plan)
    for (name, fault), moment in zip(plan, moments, strict=True):
        time.sleep(max(0.0, moment - run.elapsed()))
        at = run.elapsed()
        say(f"fault: {name} at {at:.1f}s")
        record = fault()
        record["at_s"] = round(at, 1)
        record["recovered_after_s"] = round(run.elapsed() - at, 1)
        run.faults.append(record)
        say(f"fault: {name} done; back after {record['recovered_after_s']}s")


# -- waiting and checking --------------------------------------------------------------------


def wait_final(run: Run, timeout_s: float) -> dict[str, tuple[str, str | None]]:
    deadline = time.monotonic() + timeout_s
    last_report = 0.0
    while True:
        found = run.drill.final_states()
        open_orders = [oid for oid, (state, _) in found.items() if state not in ("CONFIRMED", "CANCELLED")]
        if not open_orders or time.monotonic() > deadline:
            return found
        if time.monotonic() - last_report > 10:
            say(f"waiting: {len(found) - len(open_orders)}/{len(found)} orders final")
            last_report = time.monotonic()
        time.sleep(1)


def wait_quiet(run: Run, timeout_s: float) -> dict[str, int]:
    """Until no group has anything left to read, twice in a row a few seconds apart."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    lag: dict[str, int] = {}
    probe = GroupLagProbe(run.settings.kafka_bootstrap_servers)
    while time.monotonic() < deadline:
        lag = probe.lag()
        if any(lag.values()):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 5:
            break
        time.sleep(1)
    probe.close()
    return lag


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"  [{'ok' if self.ok else 'FAILED'}] {self.name}: {self.detail}"


def check_everything(
    run: Run, final: dict[str, tuple[str, str | None]]
) -> tuple[list[Check], dict[str, object]]:
    checks: list[Check] = []
    figures: dict[str, object] = {}
    ids = list(final)
    statuses = Counter(state for state, _ in final.values())
    open_orders = [oid for oid, (state, _) in final.items() if state not in ("CONFIRMED", "CANCELLED")]
    checks.append(
        Check(
            "every order final",
            not open_orders and len(ids) >= run.args.orders,
            f"{len(ids)} orders: {dict(statuses)}"
            + (f"; still open: {open_orders[:5]}" if open_orders else ""),
        )
    )
    reasons = Counter(
        (reason or "").split(":")[0] for state, reason in final.values() if state == "CANCELLED"
    )
    figures["cancelled_by"] = dict(reasons)
    timeouts = sum(n for reason, n in reasons.items() if reason.startswith("no reply within"))
    figures["spurious_timeouts"] = timeouts

    for invariant in run.drill.invariants(final):
        checks.append(Check(invariant.name, invariant.ok, invariant.detail))
    figures.update(run.drill.figures)

    # Exactly what `outboxkit cdc verify NAME --since <run start>` reports, for each connector.
    missing_total = duplicates_total = disordered_total = rows_total = 0
    database = database_of(run.settings)
    for definition in outbox_connectors():
        audit = verify_publication(
            definition,
            database,
            run.settings.kafka_bootstrap_servers,
            run.started_at.replace(tzinfo=None),
            wait_s=60,
        )
        say(f"cdc verify {definition.name}: {audit.summary()}")
        rows_total += len(audit.rows)
        missing_total += len(audit.missing)
        duplicates_total += sum(n - 1 for n in audit.duplicated.values())
        disordered_total += len(audit.out_of_order)
        figures[f"{definition.name}_outbox_rows"] = len(audit.rows)
    figures["duplicates_on_topics"] = duplicates_total
    checks.append(
        Check(
            "every outbox row on its topic, in version order (cdc verify)",
            missing_total == 0 and disordered_total == 0,
            f"{rows_total} rows; {missing_total} missing; {disordered_total} aggregate(s) out of order",
        )
    )
    checks.append(
        Check(
            "no outbox row published twice (exactly-once source)",
            duplicates_total == 0,
            f"{duplicates_total} extra record(s) on the topics",
        )
    )
    if run.args.cluster:
        stalls: dict[str, Any] = {
            str(f["what"]): f.get("stall_s", f.get("stall_after_return_s"))
            for f in run.faults
            if "stall_s" in f or "stall_after_return_s" in f
        }
        slow = {
            what: stall for what, stall in stalls.items() if stall is None or float(stall) >= STALL_LIMIT_S
        }
        figures["stalls_s"] = stalls
        checks.append(
            Check(
                f"every cluster fault stalled the pipeline less than {STALL_LIMIT_S:g}s",
                not slow,
                ", ".join(f"{stall}s" for stall in stalls.values()) + (f"; too long: {slow}" if slow else ""),
            )
        )

    backwards = []
    applied_total = 0
    for name in flow_services():
        context = run.contexts[name]
        inbox = context.messaging.inbox
        with context.engine.connect() as c:
            rows = c.execute(
                select(inbox.c.aggregate_type, inbox.c.aggregate_id, inbox.c.aggregate_version)
                .where(
                    inbox.c.consumer_group == f"{name}-service",
                    inbox.c.aggregate_id.in_(ids),
                    inbox.c.outcome == "applied",
                )
                .order_by(inbox.c.processed_at)
            ).all()
        last: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row.aggregate_type, row.aggregate_id)
            if key in last and row.aggregate_version <= last[key]:
                backwards.append(f"{name}-service {key} v{row.aggregate_version} after v{last[key]}")
            last[key] = row.aggregate_version
        applied_total += len(rows)
    checks.append(
        Check(
            "versions applied in order per aggregate",
            not backwards,
            f"{applied_total} applications" + (f"; backwards: {backwards[:3]}" if backwards else ""),
        )
    )

    dead = 0
    for name in flow_services():
        table = run.contexts[name].messaging.dead_letters
        with run.contexts[name].engine.connect() as c:
            dead += c.execute(select(func.count()).where(table.c.record_key.in_(ids))).scalar_one()
    checks.append(Check("no valid record in a DLQ", dead == 0, f"{dead} dead letters of this run"))
    return checks, figures


# -- main ------------------------------------------------------------------------------------


def at_least(minimum: float, kind: type = float) -> Callable[[str], float]:
    return number_argument(kind, at_least=minimum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="fault_suite.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--orders", type=at_least(20, int), default=1000, help="orders to place (default 1000)"
    )
    parser.add_argument("--rate", type=at_least(0.5), default=10.0, help="orders per second (default 10)")
    parser.add_argument(
        "--rounds", type=at_least(1, int), default=1, help="how many times each part is killed (default 1)"
    )
    parser.add_argument(
        "--outage", type=at_least(1), default=30.0, help="database outage, seconds (default 30)"
    )
    parser.add_argument(
        "--saga-timeout",
        type=at_least(1),
        default=60.0,
        help="the services' ORDER_SAGA_TIMEOUT_S (default 60, the production default)",
    )
    parser.add_argument(
        "--flow",
        choices=[*FLOWS, "mixed"],
        default="mixed",
        help="the saga style of the orders (default mixed: each order either, at random)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="the cluster's faults too (needs `stack up --brokers 3`): the busiest leader "
        "broker killed, one broker down 60s, two down 30s, the active controller "
        "killed, the busiest Connect worker killed; each fault's stall is measured",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--report", type=Path, default=None, help="JSON report path")
    parser.add_argument(
        "--finish-timeout",
        type=at_least(10),
        default=900.0,
        help="seconds to wait for every order to finish after the last fault",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli("fault_suite", lambda: suite(args))


def suite(args: argparse.Namespace) -> int:
    args.seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(args.seed)
    stack = Stack()
    if args.cluster and not stack.topology.cluster:
        raise UsageError("--cluster needs the cluster: `stack down`, then `stack up --brokers 3`")
    say(f"stack up (seed {args.seed})")
    stack.up()
    settings = Settings.load()
    refuse_if_services_run(settings)
    contexts = build_all(settings)
    registered = register_connectors()
    if registered.returncode != 0:
        print(registered.stdout + registered.stderr, file=sys.stderr)
        return registered.returncode
    run_id = uuid.uuid4().hex[:6]
    drill = OrderFlowDrill(contexts, settings, run_id, args.orders)
    run = Run(run_id, args, settings, contexts, stack, drill)
    drill.seed()
    window_s = args.orders / args.rate
    say(
        f"run {run.run_id}: {args.orders} orders at {args.rate:g}/s (~{window_s:.0f}s), "
        f"{drill.describe()}, saga timeout {args.saga_timeout:g}s"
    )
    run.services = {name: run.start_service(name) for name in flow_services()}
    for instance in run.services.values():
        instance.wait_assigned()
    if args.cluster:
        run.watch = PartitionWatch(settings.kafka_bootstrap_servers).start()
    run.started = time.monotonic()
    stop = threading.Event()
    writer = threading.Thread(target=place_orders, args=(run, stop), name="writer", daemon=True)
    writer.start()
    try:
        inject_faults(run, fault_plan(run, rng), window_s, rng)
        run.faults_done.set()
        writer.join()
        say(f"all {run.placed} orders placed after {run.elapsed():.0f}s; waiting for them to finish")
        final = wait_final(run, args.finish_timeout)
        lag = wait_quiet(run, 300)
        say(f"quiet after {run.elapsed():.0f}s (lag {lag})")
        checks, figures = check_everything(run, final)
    finally:
        stop.set()
        if run.watch is not None:
            run.watch.stop()
        for instance in [*run.services.values(), *run.extra]:
            if instance.alive():
                instance.stop()
    figures.update(
        {
            "orders": len(final),
            "placement_retries": run.placement_retries,
            "customer_cancels": run.customer_cancels,
            "elapsed_s": round(run.elapsed(), 1),
            "faults": run.faults,
            "seed": args.seed,
        }
    )
    print(
        f"\nfault suite run {run.run_id}: {len(final)} orders, {len(run.faults)} faults, "
        f"{run.elapsed():.0f}s, seed {args.seed}"
    )
    for fault in run.faults:
        stall = (
            f"; stalled {fault['stall_s']}s"
            if "stall_s" in fault
            else f"; stalled {fault['stall_after_return_s']}s after the brokers were back"
            if "stall_after_return_s" in fault
            else ""
        )
        print(
            f"  {fault['at_s']:>7.1f}s  {fault['what']}  "
            f"(recovered after {fault['recovered_after_s']}s{stall})"
        )
    print(
        f"  cancelled by: {figures['cancelled_by']}; spurious saga timeouts: "
        f"{figures['spurious_timeouts']}; events published twice: {figures['duplicates_on_topics']}"
    )
    for check in checks:
        print(check.line())
    report = args.report or ROOT / ".state" / f"fault-suite-{run.run_id}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "run": run.run_id,
                "args": {k: str(v) for k, v in vars(args).items()},
                "checks": [vars(c) for c in checks],
                "figures": figures,
            },
            indent=2,
        )
    )
    print(f"  report: {report}")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
