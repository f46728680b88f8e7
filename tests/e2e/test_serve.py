"""`./run serve`'s script as a person runs it: everything up, the page answers, Ctrl-C stops
what it started and nothing else."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import requests

from outboxkit.service.roster import service_definitions
from services.instances import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.stack


def test_serve_starts_everything_prints_the_address_and_stops_on_ctrl_c(connectors: None) -> None:
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = serve.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert f"open http://127.0.0.1:{port}/" in "".join(lines), "".join(lines)[-3000:]
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "Place an order" in page.text
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
        started = [line for line in lines if line.startswith("[serve]") and " running (pid " in line]
        # Every service of the roster, then "order API".
        names = [d.name.replace("_", "-") for d in service_definitions()]
        assert [line.split()[1] for line in started] == [*names, "order"]
    finally:
        serve.send_signal(signal.SIGINT)
        rest, _ = serve.communicate(timeout=120)
    assert serve.returncode == 0, rest[-3000:]
    stopped = [
        line.split()[1]
        for line in rest.splitlines()
        if line.startswith("[serve]") and "stopped (exit 0)" in line
    ]
    assert stopped == ["order-api", *reversed(names)], rest[-3000:]  # in reverse order of starting
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)
