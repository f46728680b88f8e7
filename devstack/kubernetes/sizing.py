"""Resource requests from what the benchmark measured, not guessed.

``scripts/bench_saga.py`` writes a report with each process's CPU (% of a core) and RSS (MB, at
start, end and most) for every rate it ran. ``python -m devstack.kubernetes.sizing REPORT`` turns
the highest rate's figures into ``stack/k8s/sizing.json`` (with the report's commit, date and
command): a pod requests the CPU its process used and the memory it reached, with headroom, and
may use twice that memory before it is killed. ``stack k8s render`` reads that file.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.config import STACK_DIR
from devstack.errors import StackError

SIZING_FILE = STACK_DIR / "k8s" / "sizing.json"
# A pod asks for what its process used at the benchmark's highest rate, and this much more:
# a rate a little above the measured one, and a JVM's heap that grew later than the run lasted.
HEADROOM = 1.25
MEMORY_LIMIT_FACTOR = 2
MIN_CPU_MILLICORES = 50
MIN_MEMORY_MIB = 64
# Processes the bench does not run, sized as the measured one whose work is most like theirs: the
# read model consumes the flow's events as the points service does; the order API places orders
# (what the bench's writers do) and reads the read model's tables.
SIZED_LIKE = {"order-view": "points-service", "order-api": "order-service"}


@dataclass(frozen=True)
class Size:
    cpu_millicores: int
    memory_mib: int

    def resources(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": f"{self.cpu_millicores}m", "memory": f"{self.memory_mib}Mi"},
            "limits": {"memory": f"{self.memory_mib * MEMORY_LIMIT_FACTOR}Mi"},
        }


def size_from(cpu_percent: float, rss_max_mb: float) -> Size:
    cpu = max(MIN_CPU_MILLICORES, math.ceil(cpu_percent * 10 * HEADROOM / 10) * 10)
    memory = max(MIN_MEMORY_MIB, math.ceil(rss_max_mb * HEADROOM / 16) * 16)
    return Size(cpu, memory)


def sizing_from_report(report: dict[str, Any]) -> dict[str, Any]:
    """The highest-rate phase's figures of a bench report, as the sizing file holds them."""
    phases = [p for p in report.get("phases", []) if p.get("cpu_share") and p.get("rss_mb")]
    if not phases:
        raise StackError("the report has no phase with CPU and RSS figures (run the bench with a --rate)")
    phase = max(phases, key=lambda p: p["rate"])
    processes = {}
    for name, cpu in sorted(phase["cpu_share"].items()):
        rss = phase["rss_mb"].get(name)
        if rss is None:
            continue
        size = size_from(float(cpu), float(rss["max"]))
        processes[name] = {
            "cpu_percent": cpu,
            "rss_max_mb": rss["max"],
            "cpu_millicores": size.cpu_millicores,
            "memory_mib": size.memory_mib,
        }
    return {
        "measured": {
            "run": report.get("title", ""),
            "rate": phase["rate"],
            "achieved_rate": phase.get("achieved_rate"),
        },
        "processes": processes,
    }


def load_sizing(path: Path = SIZING_FILE) -> dict[str, Size]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackError(
            f"{path} is missing: run the bench and `python -m devstack.kubernetes.sizing REPORT`"
        ) from None
    except json.JSONDecodeError as exc:
        raise StackError(f"{path} is not JSON ({exc})") from None
    return {name: Size(p["cpu_millicores"], p["memory_mib"]) for name, p in document["processes"].items()}


def size_of(sizing: dict[str, Size], process: str) -> Size:
    measured = process if process in sizing else SIZED_LIKE.get(process, process)
    try:
        return sizing[measured]
    except KeyError:
        raise StackError(
            f"{SIZING_FILE} has no figures for {process} (it has {', '.join(sorted(sizing))}): "
            "measure again with the bench"
        ) from None


def sizing_table(path: Path = SIZING_FILE) -> str:
    """The sizing file as the table docs/kubernetes.md shows (a test keeps the two equal)."""
    document = json.loads(path.read_text())
    measured = document["measured"]
    rows = [
        f"Measured by `{measured['command']}` at commit {measured['commit']} ({measured['run']}; "
        f"offered {measured['rate']:g}/s, achieved {measured['achieved_rate']:g}/s):",
        "",
        "| process | CPU, % of a core | RSS, most MB | requests | memory limit |",
        "|---|---|---|---|---|",
    ]
    for name, figures in document["processes"].items():
        size = Size(figures["cpu_millicores"], figures["memory_mib"])
        rows.append(
            f"| {name} | {figures['cpu_percent']:g} | {figures['rss_max_mb']:g} | "
            f"{size.cpu_millicores}m, {size.memory_mib}Mi | {size.resources()['limits']['memory']} |"
        )
    for name, like in SIZED_LIKE.items():
        rows.append(f"| {name} | not under the bench's load | | as {like} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.kubernetes.sizing", description=__doc__)
    parser.add_argument("report", type=Path, nargs="?", help="a report scripts/bench_saga.py wrote")
    parser.add_argument("--out", type=Path, default=SIZING_FILE)
    parser.add_argument("--command", help="the bench command that wrote the report, for the record")
    parser.add_argument(
        "--table", action="store_true", help="print the sizing file as docs/kubernetes.md's table"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(sizing_table(args.out))
        return 0
    if args.report is None or not args.command:
        parser.error("a REPORT and --command are needed (or --table)")
    try:
        report = json.loads(args.report.read_text())
        sizing = sizing_from_report(report)
    except (OSError, json.JSONDecodeError, StackError) as exc:
        print(f"sizing: error: {exc}", file=sys.stderr)
        return 1
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=STACK_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    sizing["measured"].update({"command": args.command, "commit": commit})
    args.out.write_text(json.dumps(sizing, indent=2) + "\n")
    print(f"sizing: {len(sizing['processes'])} processes at {sizing['measured']['rate']}/s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
