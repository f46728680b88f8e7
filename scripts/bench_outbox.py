#!/usr/bin/env python3
"""Benchmark: outbox write throughput and commit-to-consume latency through Debezium.

``python scripts/bench_outbox.py [--orders 2000] [--writers 4]`` against the running native
stack (``stack up``; connectors registered). Prints figures; asserts nothing (these machines
are shared and noisy, so numbers are for comparison between runs, not pass/fail).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventcore.cli import ArgumentParser, run_cli
from eventcore.replay import EventTap
from eventcore.settings import Settings
from services import build_all
from services.order.commands import place_order
from services.order.domain import OrderLine


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main() -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=at_least_one, default=2000)
    parser.add_argument("--writers", type=at_least_one, default=4)
    args = parser.parse_args()
    if args.orders < args.writers:
        parser.error(f"--orders ({args.orders}) must be at least --writers ({args.writers})")
    return run_cli("bench_outbox", lambda: bench(args))


def bench(args: argparse.Namespace) -> int:
    settings = Settings.load()
    order = build_all(settings)["order"]
    tap = EventTap(["order.events"], settings)
    tap.wait_for(lambda _events: tap.at_end(), 120)  # skip history
    tap.events.clear()

    per_writer = args.orders // args.writers
    print(f"placing {per_writer * args.writers} orders with {args.writers} writers...", flush=True)

    def write(writer: int) -> set[str]:
        return {place_order(order.uow_factory, f"bench-{writer}", [OrderLine("BENCH", 1, 100)]).id
                for _ in range(per_writer)}

    started = time.monotonic()
    with ThreadPoolExecutor(args.writers) as pool:
        ids = set().union(*pool.map(write, range(args.writers)))
    write_s = time.monotonic() - started
    tap.wait_for(lambda events: len({e.key for e in events} & ids) == len(ids), 600)
    consume_s = time.monotonic() - started
    latencies = [e.latency_ms() or 0.0 for e in tap.events if e.key in ids]
    tap.close()
    print(f"outbox writes:     {len(ids) / write_s:8.1f} orders/s ({write_s:.1f}s)")
    print(f"through Debezium:  {len(ids) / consume_s:8.1f} events/s end to end ({consume_s:.1f}s)")
    print(f"commit-to-consume: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 0.95):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
          f"max {max(latencies):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
