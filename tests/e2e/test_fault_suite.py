"""The fault suite, shortened for CI: a few hundred orders while every part is killed once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services import flow_services
from tests.conftest import ROOT
from tests.e2e.conftest import ServiceProcess

pytestmark = pytest.mark.stack

CHECKS = (
    "every order final",
    "stock + reserved = initial per SKU",
    "reserved = what confirmed orders hold",
    "one charge per confirmed order",
    "one refund per charged, cancelled order",
    "each orchestrated saga ended as its order",
    "points: balance + held = initial per customer",
    "points held exactly by the confirmed orders that redeemed them",
    "no order's points deducted or returned twice",
    "no charge for a stock-rejected order",
    "every outbox row on its topic, in version order (cdc verify)",
    "no outbox row published twice (exactly-once source)",
    "versions applied in order per aggregate",
    "no valid record in a DLQ",
)


@pytest.mark.timeout(1800)
def test_every_guarantee_holds_while_every_part_is_killed(services, tmp_path):
    # The suite runs its own instances; the package's would share their partitions.
    for name in list(services):
        assert services[name].stop() == 0
    report = tmp_path / "fault-suite.json"
    try:
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "fault_suite.py"),
                "--orders",
                "300",
                "--rate",
                "5",
                "--outage",
                "30",
                "--report",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=1700,
        )
    finally:
        for name in list(services):
            services[name] = ServiceProcess(name).start()
        for process in services.values():
            process.wait_assigned()
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    outcome = json.loads(report.read_text())
    assert {c["name"]: c["ok"] for c in outcome["checks"]} == dict.fromkeys(CHECKS, True)
    faults = [f["what"] for f in outcome["figures"]["faults"]]
    for part in (
        "mariadb",
        "kafka",
        "connect",
        "registry",
        *(f"{name}-service" for name in flow_services()),
    ):
        assert f"SIGKILL {part}" in faults
    assert any(f.startswith("rebalance") for f in faults)
    assert any(f.startswith("database outage of 30s") for f in faults)
    assert outcome["figures"]["orders"] >= 300
    assert outcome["figures"]["orchestrated_orders"] >= 50  # both saga styles went through the faults
    assert outcome["figures"]["orders_redeeming_points"] >= 50  # and the points step
