#!/usr/bin/env python3
"""Two commits side by side, in one session on one machine: the saga benchmark on each in turn.

``python scripts/bench_compare.py --base 5537805 --runs 3 -- --rate 50 --rate 100 --references``

Each commit runs from a checkout of its own (this one for the working tree, a git worktree in
``.state/compare/<commit>`` for the other) with its own virtualenv and its own stack state,
sharing the downloads; only one stack runs at a time. Both are measured by *this* checkout's
benchmark (``scripts/bench_saga.py`` and ``scripts/saga_bench/`` are copied into the other
checkout), so the figures come the same way from both. The runs alternate (base, this, base,
this, ...): a machine that drifts through the session drifts for both.

It prints, per rate, the median over the runs and the spread (lowest-highest) of: the stack's
CPU per order and its groups (plumbing, database, services; the writers apart), Kafka and
Connect's share of it, the broker's requests per order, the binlog events Debezium parsed per
order, the achieved rate, the saga's and the first hop's p50/p99; then the idle window's CPU and
the references' hop figures; each as this checkout against the base, with the ratio. Figures go
to ``.state/compare/compare-<time>.json``. Nothing is asserted: it reports.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMPARE_DIR = ROOT / ".state" / "compare"
BENCH_FILES = ("scripts/bench_saga.py", "scripts/saga_bench")
# The library's import name until it was renamed outboxkit (issue 30): an older commit's.
OLD_LIBRARY_NAME = "eventcore"


def say(text: str) -> None:
    print(f"[compare {datetime.now():%H:%M:%S}] {text}", flush=True)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Checkout:
    """One commit's checkout: its virtualenv, its stack (its own state directory)."""

    def __init__(self, label: str, path: Path, commit: str) -> None:
        self.label = label
        self.path = path
        self.commit = commit

    @property
    def python(self) -> Path:
        return self.path / ".venv" / "bin" / "python"

    def env(self) -> dict[str, str]:
        # Each checkout's virtualenv names its own stack and roster to outboxkit (OUTBOXKIT_*).
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "VIRTUAL_ENV", "OUTBOXKIT_"))
        }
        env["STACK_DOWNLOADS_DIR"] = str(ROOT / ".state" / "downloads")
        env["PATH"] = f"{self.path / '.venv' / 'bin'}:{env.get('PATH', '')}"
        return env

    def run(self, argv: list[str], log: Path | None = None) -> None:
        if log is None:
            subprocess.run(argv, cwd=self.path, env=self.env(), check=True)
            return
        with log.open("a") as out:
            subprocess.run(
                argv, cwd=self.path, env=self.env(), check=True, stdout=out, stderr=subprocess.STDOUT
            )

    def stack(self, *args: str) -> None:
        command = self.path / ".venv" / "bin" / "stack"
        if command.exists():  # not set up yet: no stack of its own can run
            self.run([str(command), *args])


def worktree(ref: str, label: str) -> Checkout:
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    path = COMPARE_DIR / commit[:12]
    if not path.is_dir():
        say(f"{label}: a worktree of {commit[:12]} in {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(path), commit)
    return Checkout(label, path, commit)


def this_checkout(ref: str | None) -> Checkout:
    """This checkout's working tree, or (``--this REF``) a worktree of that commit: the session
    can go on editing this one while the comparison runs."""
    if ref is not None:
        return worktree(ref, f"this {ref}")
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return Checkout(
        "this" + (" (uncommitted changes)" if dirty else ""), ROOT, commit + ("+" if dirty else "")
    )


def prepare(checkout: Checkout, log: Path) -> None:
    """Its set-up and stack through its own README command (``./run demo``), once; then this
    checkout's benchmark copied in."""
    marker = checkout.path / ".state" / "compare-ready"
    if not marker.is_file():
        say(f"{checkout.label}: set-up through its own ./run demo (log: {log})")
        checkout.run([str(checkout.path / "run"), "demo"], log)
        marker.write_text(f"prepared {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    if checkout.path != ROOT:  # the benchmark of this checkout's working tree measures both
        for name in BENCH_FILES:
            source, target = ROOT / name, checkout.path / name
            if source.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        copied = [
            p for name in BENCH_FILES for p in [checkout.path / name, *(checkout.path / name).rglob("*.py")]
        ]
        if not (checkout.path / "lib" / "outboxkit" / "ops.py").is_file():  # from before outboxkit.ops
            for path in (p for p in copied if p.is_file()):
                path.write_text(without_ops_imports(path.read_text()))
        if (checkout.path / "lib" / OLD_LIBRARY_NAME).is_dir():  # from before the rename
            for path in (p for p in copied if p.is_file()):
                path.write_text(re.sub(r"\boutboxkit\b", OLD_LIBRARY_NAME, path.read_text()))


def without_ops_imports(source: str) -> str:
    """``source`` with each ``from outboxkit.ops import ...`` spelled as the imports of the modules
    that define those names: what a commit from before ``outboxkit.ops`` has."""
    import outboxkit.ops

    lines = source.split("\n")
    found = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module == "outboxkit.ops"
    ]
    for node in sorted(found, key=lambda n: n.lineno, reverse=True):
        indent = lines[node.lineno - 1][: len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())]
        spelled = []
        for alias in node.names:
            defined = getattr(outboxkit.ops, alias.name)
            module = defined.__module__ if hasattr(defined, "__module__") else "outboxkit.ops"
            spelled.append(f"{indent}from {module} import {defined.__name__} as {alias.asname or alias.name}")
        lines[node.lineno - 1 : node.end_lineno] = spelled
    return "\n".join(lines)


def bench(
    checkout: Checkout, others: Iterable[Checkout], bench_args: list[str], report: Path, log: Path
) -> dict[str, Any]:
    for other in others:
        other.stack("down")
    checkout.stack("up")
    tools = checkout.path / ".venv" / "bin"
    # Since the library was renamed its tools are one program; an older commit has them apart.
    register = (
        [str(tools / "outboxkit"), "register-connectors"]
        if (tools / "outboxkit").exists()
        else [str(tools / "register-connectors")]
    )
    checkout.run(register, log)
    say(f"{checkout.label}: bench_saga.py {' '.join(bench_args)} (log: {log})")
    checkout.run([str(checkout.python), "scripts/bench_saga.py", *bench_args, "--report", str(report)], log)
    result: dict[str, Any] = json.loads(report.read_text())
    return result


# -- the summary -----------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:g}"
    return f"{middle:g} ({min(values):g}-{max(values):g})"


def ratio(base: list[float], this: list[float]) -> str:
    if not base or not this or not statistics.median(base):
        return ""
    return f"x{statistics.median(this) / statistics.median(base):.2f}"


Pick = Callable[[dict[str, Any]], float | None]


def phase_rows() -> list[tuple[str, Pick]]:
    def group(name: str) -> Pick:
        return lambda p: p.get("cpu_groups_ms_per_order", {}).get(name)

    def kafka(name: str) -> Pick:
        return lambda p: p.get("kafka_per_order", {}).get(name)

    def database(name: str) -> Pick:
        return lambda p: p.get("database_per_order", {}).get(name)

    def first_hop(q: str) -> Pick:
        def pick(p: dict[str, Any]) -> float | None:
            hops: dict[str, dict[str, float | None]] = p["hops_ms"]
            first = next(iter(hops.values()), {})
            return first.get(q)

        return pick

    return [
        (
            "stack CPU ms/order",
            lambda p: (
                sum(v for k, v in p.get("cpu_groups_ms_per_order", {}).items() if k != "writers") or None
            ),
        ),
        ("  plumbing ms/order", group("plumbing")),
        ("    of which JIT compiling", lambda p: sum(p.get("jit_ms_per_order", {}).values())),
        ("  database ms/order", group("database")),
        ("  services ms/order", group("services")),
        ("writers ms/order", group("writers")),
        ("Kafka + Connect % of stack", lambda p: p.get("kafka_connect_share_pct")),
        ("achieved orders/s", lambda p: p["achieved_rate"]),
        ("saga p50 ms", lambda p: p["saga_ms"]["p50"]),
        ("saga p99 ms", lambda p: p["saga_ms"]["p99"]),
        ("first hop p50 ms", first_hop("p50")),
        ("first hop p99 ms", first_hop("p99")),
        ("Kafka requests/order: Fetch", kafka("Fetch")),
        ("  Produce", kafka("Produce")),
        ("  EndTxn (transactions)", kafka("EndTxn")),
        ("  OffsetCommit", kafka("OffsetCommit")),
        ("  ListOffsets", kafka("ListOffsets")),
        ("binlog events parsed/order", lambda p: p.get("connect_per_order", {}).get("binlog events seen")),
        ("database statements/order", database("statements")),
        ("  commits/order", database("commits")),
        ("  fsyncs/order", database("fsyncs")),
        ("  binlog bytes/order", database("binlog bytes")),
    ]


def collect(results: list[dict[str, Any]], rate: float, pick: Pick) -> list[float]:
    values = []
    for result in results:
        for phase in result.get("phases", []):
            if phase["rate"] == rate:
                value = pick(phase)
                if value is not None:
                    values.append(round(float(value), 2))
    return values


def idle_rows() -> list[tuple[str, Pick]]:
    def share(prefix: str) -> Pick:
        return lambda idle: sum(v for k, v in idle["cpu_share"].items() if k.startswith(prefix)) or 0.0

    return [
        ("idle Kafka + Connect % of a core", lambda idle: idle.get("kafka_connect_pct")),
        ("idle Connect %", share("connect")),
        ("idle Kafka %", share("kafka")),
        ("idle whole stack %", lambda idle: sum(idle["cpu_share"].values())),
        ("  of which JIT compiling %", lambda idle: sum(idle.get("jit_pct", {}).values())),
    ]


def reference_values(results: list[dict[str, Any]], path: str, quantile: str) -> list[float]:
    values = []
    for result in results:
        for reference in result.get("references", []):
            if reference.get("path") == path and reference["latency_ms"].get(quantile) is not None:
                values.append(float(reference["latency_ms"][quantile]))
    return values


def print_summary(labels: tuple[str, str], base: list[dict[str, Any]], this: list[dict[str, Any]]) -> None:
    rates = sorted({p["rate"] for r in base + this for p in r.get("phases", [])})
    width = 34
    print(f"\n== {labels[1]} against {labels[0]}: median (lowest-highest) of {len(this)} run(s) each")
    for rate in rates:
        print(f"\n-- offered {rate:g} orders/s")
        print(f"   {'':<{width}} {'base':>24} {'this':>24}")
        for name, pick in phase_rows():
            b, t = collect(base, rate, pick), collect(this, rate, pick)
            if b or t:
                print(f"   {name:<{width}} {spread(b):>24} {spread(t):>24} {ratio(b, t)}")
        limited = [
            r
            for r in this + base
            for p in r.get("phases", [])
            if p["rate"] == rate and p.get("writer_limited")
        ]
        if limited:
            print(f"   ({len(limited)} run(s) writer-limited at this rate: their achieved rate is a floor)")
    print("\n-- idle (services running, nothing flowing)")
    for name, pick in idle_rows():
        b = [round(float(v), 2) for r in base if r.get("idle") and (v := pick(r["idle"])) is not None]
        t = [round(float(v), 2) for r in this if r.get("idle") and (v := pick(r["idle"])) is not None]
        if b or t:
            print(f"   {name:<{width}} {spread(b):>24} {spread(t):>24} {ratio(b, t)}")
    paths = sorted({ref["path"] for r in base + this for ref in r.get("references", []) if "path" in ref})
    if paths:
        print("\n-- references (same run, services stopped): commit-to-consume")
        for path in paths:
            for quantile in ("p50", "p99"):
                b, t = reference_values(base, path, quantile), reference_values(this, path, quantile)
                name = f"{path} {quantile} ms"
                print(f"   {name:<{width}} {spread(b):>24} {spread(t):>24} {ratio(b, t)}")
        for label, results in (("base", base), ("this", this)):
            ceilings = [
                float(ref["db_ceiling"]["orders_per_s"])
                for r in results
                for ref in r.get("references", [])
                if "db_ceiling" in ref
            ]
            if ceilings:
                print(
                    f"   {'database-only ceiling orders/s (' + label + ')':<{width}} {spread(ceilings):>24}"
                )


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="bench_compare.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="5537805", help="the commit to compare against (default 5537805)")
    parser.add_argument(
        "--this",
        default=None,
        metavar="REF",
        help="measure this commit from a worktree of its own (default: this checkout as it is)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3), alternating")
    parser.add_argument(
        "--summarize", type=Path, metavar="JSON", help="print the summary of an earlier comparison and stop"
    )
    args, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args, rest


def main(argv: list[str] | None = None) -> int:
    args, bench_args = parse_args(argv)
    if args.summarize:
        earlier = json.loads(args.summarize.read_text())
        print_summary((earlier["labels"][0], earlier["labels"][1]), earlier["base"], earlier["this"])
        return 0
    base, this = worktree(args.base, f"base {args.base}"), this_checkout(args.this)
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}"
    out_dir = COMPARE_DIR / f"compare-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "runs.log"
    if this.path != ROOT:
        Checkout("this checkout", ROOT, "").stack("down")  # its stack holds the same ports
    for checkout, other in ((base, this), (this, base)):
        other.stack("down")  # one stack at a time: they share the ports
        prepare(checkout, log)
    saved: dict[str, Any] = {
        "labels": [f"{base.label} ({base.commit[:12]})", f"{this.label} ({this.commit[:13]})"],
        "bench_args": bench_args,
        "started": stamp,
        "base": [],
        "this": [],
    }
    summary_path = COMPARE_DIR / f"compare-{stamp}.json"
    try:
        for run in range(1, args.runs + 1):
            for key, checkout, other in (("base", base, this), ("this", this, base)):
                say(f"run {run}/{args.runs}: {checkout.label}")
                report = out_dir / f"{key}-{run}.json"
                saved[key].append(bench(checkout, [other], bench_args, report, log))
                summary_path.write_text(json.dumps(saved, indent=2))
    except KeyboardInterrupt:
        say("interrupted: the runs so far are summarized")
    finally:
        for checkout in (base, this):
            checkout.stack("down")
    print_summary((saved["labels"][0], saved["labels"][1]), saved["base"], saved["this"])
    say(f"figures: {summary_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
