#!/usr/bin/env python3
"""Benchmark of the whole saga at a fixed offered rate, with two references from the same run.

``python scripts/bench_saga.py --rate 100 --duration 60`` (or ``--find-max``) on the native stack.
Writer processes place orders open-loop at the offered rate; the flow's services run as in
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
Its parts are in ``scripts/saga_bench/`` (phases, history, references, report).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saga_bench import say
from saga_bench.history import (
    add_history,
    print_comparison,
    print_table_sizes,
    refuse_without_disk,
    remove_history,
    table_rows,
)
from saga_bench.phases import SagaBench, print_idle, print_phase, sampler
from saga_bench.references import db_ceiling, relay_reference
from saga_bench.report import plot

from devstack.stack import Stack
from outboxkit.cli import ArgumentParser, number_argument, run_cli
from services import ROOT, flow_services
from services.instances import register_connectors


def positive(kind: type = float) -> Callable[[str], float]:
    return number_argument(kind, above=0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="bench_saga.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=positive(), action="append", help="offered orders/s (repeatable)")
    parser.add_argument(
        "--duration", type=positive(), default=60.0, help="seconds of load per rate (default 60)"
    )
    parser.add_argument("--writers", type=positive(int), default=4, help="writer processes (default 4)")
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
        help="a setting for the flow's services (repeatable), e.g. CONSUMER_APPLY_IN_BATCHES=false",
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
        "--compare-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run the rates, restart the flow's services with this setting too (repeatable), run "
        "them again, and compare, e.g. --service-env TRACING=false --compare-env TRACING=true",
    )
    parser.add_argument(
        "--warm-up",
        type=number_argument(at_least=0.0),
        default=30.0,
        metavar="S",
        help="unmeasured load at the first rate for S seconds before the rates (and again after "
        "--history adds its rows), then on until the JVMs' JIT compilers are quiet; default 30, 0 "
        "for none",
    )
    parser.add_argument(
        "--warm-up-max",
        type=number_argument(at_least=0.0),
        default=240.0,
        metavar="S",
        help="the longest the warm-up goes on while the JIT compilers still work (default 240)",
    )
    parser.add_argument(
        "--idle",
        type=number_argument(at_least=0.0),
        default=60.0,
        metavar="S",
        help="measure S seconds with the services running and nothing flowing, after the first "
        "warm-up (default 60, 0 for none): what the stack costs to publish nothing",
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
    for option, settings in (("--service-env", args.service_env), ("--compare-env", args.compare_env)):
        for setting in settings:
            if "=" not in setting:
                parser.error(f"{option} {setting!r} is not KEY=VALUE")
    if args.history and args.compare_env:
        parser.error("--history and --compare-env each compare two rounds: choose one")
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
    return run_cli("bench_saga", lambda: bench(args), log_level="INFO")


def ensure_connectors() -> None:
    """A fresh stack has no outbox connector yet: without one nothing is published and every saga
    of the run would time out. Registering is idempotent (what the demo and the tests run too)."""
    say("outbox connectors: registering (scripts/register_connectors.py)")
    result = register_connectors()
    if result.returncode != 0:
        raise SystemExit(
            f"bench_saga: error: the outbox connectors could not be registered:\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )


def bench(args: argparse.Namespace) -> int:
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    Stack().up()
    bench = SagaBench(args)
    ensure_connectors()
    if args.history:
        refuse_without_disk(bench.stack, args.history)
    report: dict[str, Any] = {
        "title": f"bench_saga run {bench.run_id}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{multiprocessing.cpu_count()} cores, writers {args.writers}",
        "phases": [],
        "references": [],
        "max_flat_rate": None,
        "idle": None,
    }
    bench.start_services()
    bench.start_probes()
    compare_env = dict(setting.split("=", 1) for setting in args.compare_env)

    def start_sampler() -> tuple[Any, Any]:
        stop = multiprocessing.get_context("spawn").Event()
        process = multiprocessing.get_context("spawn").Process(
            target=sampler,
            args=(bench.pids(), str(bench.samples_path), stop, 1.0, args.table_sizes, bench.quiet),
        )
        process.start()
        return process, stop

    sampler_process, stop = start_sampler()
    try:
        rates = list(args.rate or [])
        if args.find_max:
            rate = args.start
            while rate <= args.max_rate:
                rates.append(rate)
                rate += args.step
        rounds = ["before", "after"] if args.history else ["base", "compared"] if compare_env else [None]
        for round_name in rounds:
            if round_name == "after":
                say(f"adding {args.history:,} rows of history to every inbox and outbox")
                add_history(bench.stack, args.history)
                report["history_rows"] = table_rows(bench.stack)
                say(f"rows now: {report['history_rows']}")
            if round_name == "compared":
                say(f"restarting the flow's services with {compare_env}")
                stop.set()
                sampler_process.join(30)
                bench.stop_services()
                bench.start_services(compare_env)
                sampler_process, stop = start_sampler()
            if args.warm_up and rates:
                # Unmeasured: a cold MariaDB (or a buffer pool full of history) would otherwise
                # count against whichever round comes first.
                bench.warm_up(rates[0], args.warm_up, max(args.warm_up, args.warm_up_max))
            if args.idle and report["idle"] is None:
                idle = bench.measure_idle(args.idle)
                report["idle"] = idle
                print_idle(idle)
            for rate in rates:
                started = time.time()
                result = bench.run_phase(rate, args.duration)
                print_phase(result)
                window = [started, time.time()]
                report["phases"].append({**asdict(result), "window": window, "round": round_name})
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
        bench.close_probes()
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
    path = args.report or ROOT / ".state" / "bench" / f"saga-{bench.run_id}.json"
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
        print_comparison(report["phases"], "before", "after", "with history vs without")
    if compare_env:
        print_comparison(report["phases"], "base", "compared", f"without vs with {compare_env}")
    sizes = [(row["t"], row["table_rows"]) for row in samples if "table_rows" in row]
    if sizes:
        report["table_rows"] = sizes
        path.write_text(json.dumps(report, indent=2, default=str))
        print_table_sizes(sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
