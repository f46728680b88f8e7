"""The run's figures as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: dict[str, Any], samples: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = report["phases"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    rates = [p["rate"] for p in phases]
    series: list[tuple[str, list[dict[str, Any]]]] = [("saga", [p["saga_ms"] for p in phases])]
    series += [(hop, [p["hops_ms"][hop] for p in phases]) for hop in (phases[0]["hops_ms"] if phases else {})]
    for label, figures in series:
        for quantile, style in (("p50", "-o"), ("p99", "--x")):
            values = [f[quantile] for f in figures]
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
