"""The parts of scripts/bench_saga.py: the saga at an offered rate (phases.py), the history
a growth run writes first (history.py), the two references (references.py) and the plot
(report.py). Imported from the scripts folder, which Python puts first on the path of a script."""

from __future__ import annotations

from datetime import datetime


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)
