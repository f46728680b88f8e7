"""One Debezium connector for the database server: every service's events on their topics, keyed
by their aggregate and in version order, exactly once, through a SIGKILL of Kafka Connect; and a
switch between the two layouts (``CDC_CONNECTORS``) while orders flow, losing nothing.

`outboxkit cdc verify` is the judge: for every outbox row since the test began, one record on the topic of
its aggregate type, keyed by its aggregate id, first seen in version order (what the consumers'
version guards need)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from outboxkit.base.topics import topic_for
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.service.roster import PER_SERVER, connector_layout, outbox_connectors, publishing_services
from services.contracts import FLOWS
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from services.order.orchestration import order_saga
from services.points.commands import set_points
from tests.conftest import wait_until
from tests.e2e.probes import new_sku, wait_final

pytestmark = pytest.mark.stack


class Orders:
    """Orders at a steady rate from a thread until stopped: both saga styles, every other one
    paying partly in points, so every service of the flow writes its outbox."""

    def __init__(self, ctx, rate: float = 10.0) -> None:
        self.ctx, self.interval = ctx, 1.0 / rate
        self.sku = new_sku(ctx, 100_000)
        self.customer = f"per-server-{self.sku}"
        set_points(ctx["points"].uow_factory, self.customer, 1_000_000)
        self.placed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # Deadlines long enough that a Connect restart is a wait, not a timeout.
        saga = order_saga(300.0)
        n = 0
        while not self._stop.wait(self.interval):
            order = place_order(
                self.ctx["order"].uow_factory,
                self.customer,
                [OrderLine(self.sku, 1, 100)],
                flow=FLOWS[n % 2],
                saga=saga,
                points=10 if n % 4 < 2 else 0,
            )
            self.placed.append(order.id)
            n += 1

    def __enter__(self) -> Orders:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def verify(name: str, since: datetime, exactly_once: bool) -> dict[str, object]:
    """`outboxkit cdc verify NAME --since ...`: what it found, after it said the publication is complete."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "outboxkit.cli.cdc",
            "verify",
            name,
            "--since",
            since.isoformat(),
            "--wait",
            "60",
            "--json",
            *(["--fail-on-duplicates"] if exactly_once else []),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    assert found["missing"] == [] and found["outOfOrder"] == [] and found["keyedWrong"] == []
    return found


def every_order_confirmed(ctx, placed: list[str]) -> None:
    assert placed
    for order_id in placed:
        assert wait_final(ctx, order_id, 300) is OrderStatus.CONFIRMED


def just_before() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)


def test_one_connector_publishes_every_services_outbox_on_its_topics(ctx, stack, connectors):
    if connector_layout() != PER_SERVER:
        pytest.skip("CDC_CONNECTORS=per-service: a connector per service")
    (connector,) = outbox_connectors()
    assert connector.databases == [d.database_name for d in publishing_services()]
    running = ConnectClient(ctx["order"].settings.connect_url).connectors()
    assert [name for name in running if name.endswith("-outbox")] == []  # no per-service one reads too
    since = just_before()
    with Orders(ctx) as orders:
        time.sleep(6)
    every_order_confirmed(ctx, orders.placed)
    found = verify(connector.name, since, exactly_once=True)
    # Rows of every service's outbox, each type of event on its aggregate's topic.
    rows = int(str(found["rows"]))
    assert rows >= len(orders.placed) * 4
    replayed = subprocess.run(
        [
            sys.executable,
            "-m",
            "outboxkit.cli.replay",
            topic_for("points"),
            "--key",
            orders.placed[0],
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stderr
    types = [json.loads(line)["headers"]["eventType"] for line in replayed.stdout.splitlines()]
    assert types == ["PointsDeducted"]


def test_a_killed_connect_worker_resumes_without_losing_or_doubling_an_event(ctx, stack, connectors):
    if os.environ.get("STACK_COMPOSE_CLUSTER") == "true" or ctx["order"].settings.connect_url.count(",") > 0:
        pytest.skip("a cluster's workers are killed by test_cluster.py")
    since = just_before()
    with Orders(ctx) as orders:
        time.sleep(4)
        stack.kill("connect")
        time.sleep(3)  # orders keep being committed while nothing publishes them
        stack.start("connect")
        client = ConnectClient(ctx["order"].settings.connect_url)
        wait_until(
            lambda: all((s := client.state(d.name)) is not None and s.running for d in outbox_connectors()),
            120,
            "the connectors to run again after Connect's restart",
        )
        time.sleep(4)
    every_order_confirmed(ctx, orders.placed)
    # Exactly once: the replacement resumed right after what was committed with its offsets.
    for definition in outbox_connectors():
        verify(definition.name, since, exactly_once=True)


def test_switching_layouts_while_orders_flow_loses_nothing(ctx, stack, connectors, settings):
    """Per-service connectors take over from the server's one, then it takes over back: each
    takeover republishes, through a filtered snapshot, every row since the earliest position the
    stopped ones confirmed."""
    if (
        os.environ.get("STACK_BACKEND", "native") != "native"
        or "," in settings.connect_url
        or connector_layout() != PER_SERVER
    ):
        pytest.skip("the switch is tested on the native single-node stack's default layout")
    since = just_before()
    client = ConnectClient(settings.connect_url)

    def register(layout: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "outboxkit.cli.connectors"],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "CDC_CONNECTORS": layout},
        )

    with Orders(ctx, rate=5.0) as orders:
        time.sleep(3)
        split = register("per-service")
        assert split.returncode == 0, split.stdout + split.stderr
        assert "taking over from outbox" in split.stdout
        assert sorted(client.connectors()) == sorted(d.name for d in outbox_connectors(layout="per-service"))
        time.sleep(3)
        merged = register(PER_SERVER)
        assert merged.returncode == 0, merged.stdout + merged.stderr
        assert (
            "taking over from order-outbox, inventory-outbox, payment-outbox, points-outbox" in merged.stdout
        )
        assert client.connectors() == ["outbox"]
        time.sleep(3)
    every_order_confirmed(ctx, orders.placed)
    found = verify("outbox", since, exactly_once=False)
    assert found["duplicated"]  # a takeover republishes what may not have been published
