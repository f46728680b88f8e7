"""The three-broker cluster under load (`stack up --brokers 3`; `./run test` runs these in a phase
of their own): the broker that leads the most partitions and the busiest Connect worker are
SIGKILLed while orders flow, and a topic is resized; nothing is lost, nothing is published twice
(exactly-once source), per-key order holds, and the pipeline flows again by itself. How long it
stalls is a figure, not an assertion (shared CI machines are noisy): the tests print it, and
`scripts/fault_suite.py --cluster` measures it against the 15 s target on a quiet machine."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, Producer

from devstack import faults
from devstack.stack import Stack
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.kafka.clients import consumer_config, password_key, producer_config
from outboxkit.service.roster import outbox_connectors
from services.contracts import FLOWS
from services.instances import connector_topics
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from services.order.orchestration import order_saga
from tests.conftest import connector_of, wait_until
from tests.e2e.conftest import ServiceProcess
from tests.e2e.probes import new_sku, stock, wait_final

pytestmark = [
    pytest.mark.stack,
    pytest.mark.cluster,
    pytest.mark.skipif(
        not Stack().topology.cluster,
        reason="these run on `stack up --brokers 3` (./run test has a phase for them)",
    ),
]
# A stall this long means the cluster did not fail over by itself (a stuck leader election, a
# task nobody took over): a liveness check. The 15 s target is the fault suite's to measure.
RESUMES_WITHIN_S = 60.0


class Load:
    """Orders at a steady rate from a thread, both saga styles, until stopped."""

    def __init__(self, ctx, sku: str, rate: float = 8.0) -> None:
        self.ctx, self.sku, self.interval = ctx, sku, 1.0 / rate
        self.placed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        saga = order_saga(60.0)
        n = 0
        while not self._stop.wait(self.interval):
            try:
                order = place_order(
                    self.ctx["order"].uow_factory,
                    "cluster-load",
                    [OrderLine(self.sku, 1, 100)],
                    flow=FLOWS[n % 2],
                    saga=saga,
                )
                self.placed.append(order.id)
                n += 1
            except Exception:  # the database never goes down here; a hiccup retries at the next tick
                continue

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def watch(settings) -> Iterator[faults.PartitionWatch]:
    probe = faults.PartitionWatch(settings.kafka_bootstrap_servers).start()
    yield probe
    probe.stop()


def verify_everything_once(since: datetime) -> None:
    for definition in outbox_connectors():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "outboxkit.cli.cdc",
                "verify",
                definition.name,
                "--since",
                since.isoformat(),
                "--wait",
                "60",
                "--fail-on-duplicates",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert " 0 missing, 0 published more than once" in result.stdout, result.stdout


def test_the_leader_of_the_most_partitions_killed_under_load_loses_and_doubles_nothing(ctx, settings, watch):
    stack = Stack()
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    sku = new_sku(ctx, 10_000)
    with Load(ctx, sku) as load:
        time.sleep(5)
        node, partitions = faults.busiest_leader(settings.kafka_bootstrap_servers)
        victim = faults.broker(stack, node)
        killed = faults.kill(victim)
        stall = watch.stall(killed, partitions, timeout_s=RESUMES_WITHIN_S)
        time.sleep(5)
        victim.ensure_running()
        time.sleep(5)
    print(f"{victim.name} led {len(partitions)} flow partitions; stall {stall}s")
    assert stall is not None, f"nothing flowed again within {RESUMES_WITHIN_S:.0f}s of the kill"
    assert len(load.placed) > 50
    for order_id in load.placed:
        assert wait_final(ctx, order_id, 300) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (10_000 - len(load.placed), len(load.placed))
    verify_everything_once(since)


def test_the_active_controller_killed_under_load_stalls_nothing_for_long(ctx, settings, watch):
    stack = Stack()
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    sku = new_sku(ctx, 10_000)
    with Load(ctx, sku) as load:
        time.sleep(5)
        node = faults.active_controller(stack)
        victim = faults.broker(stack, node)
        killed = faults.kill(victim)
        stall = watch.stall(killed, None, timeout_s=RESUMES_WITHIN_S)
        time.sleep(5)
        victim.ensure_running()
        assert faults.active_controller(stack) in {1, 2, 3}  # a quorum again, whoever leads it
        time.sleep(3)
    print(f"{victim.name} was the active controller; stall {stall}s")
    assert stall is not None, f"nothing flowed again within {RESUMES_WITHIN_S:.0f}s of the kill"
    for order_id in load.placed:
        assert wait_final(ctx, order_id, 300) is OrderStatus.CONFIRMED
    verify_everything_once(since)


def test_a_connect_worker_killed_under_load_hands_its_tasks_over(ctx, settings, watch):
    stack = Stack()
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    sku = new_sku(ctx, 10_000)
    client = ConnectClient(settings.connect_url)
    with Load(ctx, sku) as load:
        time.sleep(5)
        worker, connectors = faults.busiest_worker(stack, settings.connect_url)
        partitions = faults.partitions_of(settings.kafka_bootstrap_servers, connector_topics(connectors))
        killed = faults.kill(worker)
        stall = watch.stall(killed, partitions, timeout_s=RESUMES_WITHIN_S)

        def moved() -> bool:
            states = [client.state(name) for name in connectors]
            return all(s is not None and s.running and worker.address() not in s.task_workers for s in states)

        wait_until(moved, 60, f"the tasks of {worker.name} to run on the other worker")
        moved_after = time.monotonic() - killed
        time.sleep(5)
        worker.ensure_running()
    print(f"{worker.name} ran {connectors}; tasks moved after {moved_after:.1f}s; stall {stall}s")
    assert stall is not None, f"nothing flowed again within {RESUMES_WITHIN_S:.0f}s of the kill"
    for order_id in load.placed:
        assert wait_final(ctx, order_id, 300) is OrderStatus.CONFIRMED
    verify_everything_once(since)


def test_a_resize_under_load_keeps_every_keys_order_and_a_third_instance_takes_its_share(
    ctx, settings, services
):
    """payment.events (read by order-service and the read model) grows from 6 to 9 partitions while
    orders flow; every guarantee holds, and a third order-service instance gets partitions of it."""
    topic = "payment.events"
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    sku = new_sku(ctx, 10_000)
    before = len(partitions_of_topic(settings, topic))
    with Load(ctx, sku, rate=6.0) as load:
        time.sleep(5)
        resized = subprocess.run(
            [
                sys.executable,
                "-m",
                "outboxkit.cli.topics",
                "resize",
                topic,
                "--partitions",
                str(before + 3),
                "--yes",
                "--timeout",
                "120",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resized.returncode == 0, resized.stdout + resized.stderr
        writer = connector_of("payment")
        assert f"{writer}: paused" in resized.stdout and f"{writer}: resumed" in resized.stdout
        assert "every group has committed payment.events to its end" in resized.stdout
        time.sleep(10)
    assert len(partitions_of_topic(settings, topic)) == before + 3
    for order_id in load.placed:
        assert wait_final(ctx, order_id, 300) is OrderStatus.CONFIRMED
    verify_everything_once(since)
    # Scale out: three order-service instances now each own partitions of payment.events.
    extra = [ServiceProcess("order").start() for _ in range(2)]
    try:
        for instance in extra:
            instance.wait_assigned()

        def shared() -> bool:
            owners = assignment(settings, "order-service", topic)
            return len(owners) == 3 and sum(len(p) for p in owners.values()) == before + 3

        wait_until(shared, 60, "three order-service instances to share payment.events")
        owners = assignment(settings, "order-service", topic)
        assert all(len(partitions) >= 2 for partitions in owners.values()), owners
        newest = max(p for partitions in owners.values() for p in partitions)
        assert newest == before + 2
    finally:
        for instance in extra:
            assert instance.stop() == 0


def partitions_of_topic(settings, topic: str) -> list[int]:
    from outboxkit.kafka.clients import admin_client, partitions_of

    return [tp.partition for tp in partitions_of(admin_client(settings.kafka_bootstrap_servers), [topic])]


def assignment(settings, group: str, topic: str) -> dict[str, list[int]]:
    """Each member of ``group`` -> the partitions of ``topic`` it owns now."""
    from outboxkit.kafka.clients import admin_client

    admin = admin_client(settings.kafka_bootstrap_servers)
    described = admin.describe_consumer_groups([group])[group].result(timeout=15)
    return {
        member.member_id: sorted(
            tp.partition for tp in member.assignment.topic_partitions if tp.topic == topic
        )
        for member in described.members
    }


def login_as(settings, principal: str) -> dict[str, str]:
    return {
        **settings.kafka_security,
        "sasl.username": principal,
        "sasl.password": settings.get(password_key(principal)),
    }


def produce_once(settings, login: dict[str, str], topic: str) -> str | None:
    """Produce one record as ``login``; returns the broker's error name, None when it was written."""
    outcome: list[str | None] = []
    producer = Producer(
        {**producer_config(settings.kafka_bootstrap_servers), **login, "message.timeout.ms": 15000}
    )
    producer.produce(
        topic,
        key=b"forged",
        value=b"\x00\x00\x00\x00\x01forged",
        headers=[("eventType", b"PaymentCompleted"), ("aggregateVersion", b"99")],
        on_delivery=lambda err, _msg: outcome.append(None if err is None else err.name()),
    )
    producer.flush(30)
    return outcome[0] if outcome else "NO_ANSWER"


def test_only_connect_writes_the_aggregate_topics_and_a_service_keeps_to_its_own_group(settings):
    if not settings.kafka_security:
        pytest.skip("the cluster's listener is not locked down")
    inventory = login_as(settings, "inventory-service")
    # A service cannot forge another aggregate's event (an unpaid order would be confirmed)...
    assert produce_once(settings, inventory, "payment.events") == "TOPIC_AUTHORIZATION_FAILED"
    assert produce_once(settings, inventory, "inventory.events") == "TOPIC_AUTHORIZATION_FAILED"
    # ...but writes its own dead-letter topic.
    assert produce_once(settings, inventory, "inventory-service.dlq") is None
    # Another service's consumer group is refused.
    intruder = Consumer({**consumer_config(settings.kafka_bootstrap_servers, "payment-service"), **inventory})
    try:
        intruder.subscribe(["order.events"])
        errors: list[str] = []
        deadline = time.monotonic() + 30
        while not errors and time.monotonic() < deadline:
            message = intruder.poll(1.0)
            error = message.error() if message is not None else None
            if error is not None:
                errors.append(error.name())
        assert "GROUP_AUTHORIZATION_FAILED" in errors, errors
    finally:
        intruder.close()
    # Without credentials nothing gets through at all.
    anonymous = {"security.protocol": "PLAINTEXT"}
    assert produce_once(settings, anonymous, "payment.events") is not None


def test_the_kafka_preflight_names_a_missing_acl(settings):
    if not settings.kafka_security:
        pytest.skip("the cluster's listener is not locked down")
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported without __all__
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    from outboxkit.kafka.clients import admin_client

    admin = admin_client(settings.kafka_bootstrap_servers)
    grant = AclBinding(
        ResourceType.TOPIC,
        "payment.events",
        ResourcePatternType.LITERAL,
        "User:connect",
        "*",
        AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )
    removed = AclBindingFilter(
        ResourceType.TOPIC,
        "payment.events",
        ResourcePatternType.LITERAL,
        "User:connect",
        "*",
        AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )
    admin.delete_acls([removed])[removed].result(timeout=30)
    try:
        check = subprocess.run(
            [sys.executable, "scripts/register_connectors.py", "--check-kafka"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 2, check.stdout + check.stderr
        assert "[FAILED] ACLs: 1 missing: User:connect WRITE on topic payment.events" in check.stderr
    finally:
        admin.create_acls([grant])[grant].result(timeout=30)
