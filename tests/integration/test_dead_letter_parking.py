"""Per-key order survives the dead-letter queue, on the real broker, registry and database.

A probe consumer group runs the real runtime (applier, dead-letter queue, retry topic) over a
topic of its own, with a handler that refuses chosen events until they are "fixed" and
records what it applied, in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Producer
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, select

from outboxkit.base.failures import RecordRejectedError
from outboxkit.base.messages import OutboxEvent
from outboxkit.base.topics import HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID, HEADER_EVENT_TYPE
from outboxkit.consuming.applier import RecordApplier
from outboxkit.consuming.consumer import ConsumerOptions, ConsumerRuntime
from outboxkit.consuming.dispatch import EventRoutes, WithEnvelope
from outboxkit.consuming.guard import SqlGuardTables
from outboxkit.consuming.health import Health
from outboxkit.dead_letters.queue import DeadLetterQueue, DeadLetterStore
from outboxkit.dead_letters.tools import DeadLetterSelectionError, DeadLetterTools
from outboxkit.domain.events import Envelope
from outboxkit.kafka.clients import producer_config
from outboxkit.kafka.partitioning import partition_for
from outboxkit.serialization.avro import AvroEventDeserializer, AvroEventSerializer
from outboxkit.service.context import ServiceContext
from outboxkit.storage.db import SqlUnitOfWork
from services.contracts import OrderConfirmed
from tests.conftest import wait_until

pytestmark = pytest.mark.stack

GROUP = "parking-probe"
TOPIC = "parking-probe.events"
probe_tables = MetaData()
applied = Table(
    "probe_applied",
    probe_tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record_key", String(64)),
    Column("version", Integer),
    Column("event_id", String(64)),
)
refusals = Table("probe_refusals", probe_tables, Column("event_id", String(64), primary_key=True))


@dataclass
class Probe:
    context: ServiceContext[Any]
    tools: DeadLetterTools
    producer: Producer
    serializer: AvroEventSerializer
    runtime: ConsumerRuntime | None = None
    thread: threading.Thread | None = None

    def handle(self, uow: SqlUnitOfWork, event: OrderConfirmed, envelope: Envelope) -> None:
        query = select(refusals).where(refusals.c.event_id == envelope.event_id)
        if uow.connection.execute(query).first():
            raise RecordRejectedError(f"event {envelope.event_id} is refused until it is fixed")
        uow.connection.execute(
            insert(applied).values(
                record_key=event.order_id, version=envelope.aggregate_version, event_id=envelope.event_id
            )
        )

    def start(self) -> None:
        messaging = self.context.messaging
        applier = RecordApplier(
            GROUP,
            EventRoutes({OrderConfirmed: WithEnvelope(self.handle)}, GROUP),
            self.context.uow_factory,
            lambda uow: SqlGuardTables(uow.connection, messaging, GROUP),
            AvroEventDeserializer(self.context.registry, self.context.catalog),
        )
        queue = DeadLetterQueue(
            Producer(producer_config(self.context.settings.kafka_bootstrap_servers)),
            GROUP,
            DeadLetterStore(messaging.dead_letters, GROUP),
            self.context.uow_factory,
        )
        self.runtime = ConsumerRuntime(
            self.context.settings.kafka_bootstrap_servers,
            [TOPIC],
            applier,
            queue,
            Health(GROUP),
            ConsumerOptions(poll_timeout_s=0.2),
        )
        self.runtime.prepare()
        self.thread = threading.Thread(target=self.runtime.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.runtime is not None and self.thread is not None:
            self.runtime.stop()
            self.thread.join(30)
            self.runtime = self.thread = None

    def send(self, key: str, version: int, refuse: bool = False) -> str:
        event = OutboxEvent(
            "parking-probe", key, "OrderConfirmed", version, {"orderId": key, "paymentId": f"pay-{version}"}
        )
        if refuse:
            with self.context.engine.begin() as connection:
                connection.execute(insert(refusals).values(event_id=event.event_id))
        schema = self.context.catalog.for_event_type("OrderConfirmed")
        value = self.serializer.serialize(TOPIC, schema, event.record())
        self.producer.produce(
            TOPIC,
            key=key.encode(),
            value=value,
            headers=[
                (HEADER_EVENT_ID, event.event_id),
                (HEADER_EVENT_TYPE, "OrderConfirmed"),
                (HEADER_AGGREGATE_VERSION, str(version)),
            ],
        )
        assert self.producer.flush(10) == 0
        return event.event_id

    def fix(self, event_id: str) -> None:
        with self.context.engine.begin() as connection:
            connection.execute(delete(refusals).where(refusals.c.event_id == event_id))

    def applied(self, key: str) -> list[tuple[int, str]]:
        with self.context.engine.connect() as connection:
            rows = connection.execute(
                select(applied.c.version, applied.c.event_id)
                .where(applied.c.record_key == key)
                .order_by(applied.c.id)
            )
            return [(r.version, r.event_id) for r in rows]

    def pending(self, key: str) -> list:  # type: ignore[type-arg]
        return [row for row in self.tools.pending() if row.record_key == key]


@pytest.fixture
def probe(order_context: ServiceContext[Any]) -> Iterator[Probe]:
    probe_tables.create_all(order_context.engine)
    bootstrap = order_context.settings.kafka_bootstrap_servers
    store = DeadLetterStore(order_context.messaging.dead_letters, GROUP)
    tools = DeadLetterTools(order_context.engine, store, bootstrap)
    probe = Probe(
        order_context,
        tools,
        Producer(producer_config(bootstrap)),
        AvroEventSerializer(order_context.registry),
    )
    probe.start()
    yield probe
    probe.stop()


def test_a_poison_record_parks_its_key_and_one_reinjection_applies_all_three_in_order(probe):
    key = str(uuid.uuid4())
    neighbour = next(
        k for k in (str(uuid.uuid4()) for _ in range(1000)) if partition_for(k) == partition_for(key)
    )
    poison = probe.send(key, 1, refuse=True)
    second, third = probe.send(key, 2), probe.send(key, 3)
    other = probe.send(neighbour, 1)

    # The partition moves on (another key on it is applied), this key's later records wait.
    wait_until(lambda: probe.applied(neighbour) == [(1, other)], 60, "the neighbour's record")
    wait_until(lambda: len(probe.pending(key)) == 3, 60, "the poison and its two followers in the DLQ")
    head, *parked = probe.pending(key)
    assert (head.event_id, head.error_class, head.parked) == (poison, "RecordRejectedError", False)
    assert [(r.event_id, r.error_class, r.parked_behind) for r in parked] == [
        (second, "Parked", head.id),
        (third, "Parked", head.id),
    ]
    assert probe.applied(key) == []

    # Re-injected before the fix: the poison fails again and stays first; nothing overtakes it.
    rows, _ = probe.tools.select(key=key)
    sent, missing = probe.tools.reinject(rows)
    assert (len(sent), missing) == (3, [])
    wait_until(lambda: probe.pending(key)[0].attempts == head.attempts + 1, 60, "the poison to fail again")
    time.sleep(1)
    assert [r.event_id for r in probe.pending(key)] == [poison, second, third]
    assert probe.applied(key) == []

    # The fix, then ONE re-injection: all three are applied, in their original order, once.
    probe.fix(poison)
    rows, chosen = probe.tools.select(reference=poison, whole_queue=True)
    assert "the rest of its key" in chosen and len(rows) == 3
    probe.tools.reinject(rows)
    wait_until(lambda: len(probe.applied(key)) == 3, 60, "all three records to be applied")
    assert probe.applied(key) == [(1, poison), (2, second), (3, third)]
    assert probe.pending(key) == []
    with pytest.raises(DeadLetterSelectionError, match="no pending dead letter with key"):
        probe.tools.select(key=key)


def test_reinjecting_twice_has_one_effect(probe):
    key = str(uuid.uuid4())
    poison = probe.send(key, 1, refuse=True)
    follower = probe.send(key, 2)
    wait_until(lambda: len(probe.pending(key)) == 2, 60, "the poison and its follower in the DLQ")
    probe.stop()
    probe.fix(poison)
    rows, _ = probe.tools.select(key=key)
    probe.tools.reinject(rows)
    probe.tools.reinject(rows)  # an impatient operator: every record is now on the retry topic twice
    probe.start()
    wait_until(lambda: len(probe.applied(key)) >= 2 and probe.pending(key) == [], 60, "the re-injection")
    time.sleep(2)  # the second copies arrive too, and change nothing
    assert probe.applied(key) == [(1, poison), (2, follower)]


def test_purging_a_poison_record_leaves_its_followers_parked_until_reinjected(probe):
    key = str(uuid.uuid4())
    poison = probe.send(key, 1, refuse=True)
    follower = probe.send(key, 2)
    wait_until(lambda: len(probe.pending(key)) == 2, 60, "the poison and its follower in the DLQ")
    rows, chosen = probe.tools.select(reference=poison)  # purge: that record alone
    assert chosen.startswith("dead letter #") and len(rows) == 1
    assert probe.tools.purge(rows) == 1
    later = probe.send(key, 3)  # the key is still parked: its first pending record is the follower
    wait_until(lambda: len(probe.pending(key)) == 2, 60, "the later record to park too")
    assert probe.applied(key) == []
    rows, _ = probe.tools.select(key=key)
    probe.tools.reinject(rows)
    wait_until(lambda: len(probe.applied(key)) == 2, 60, "the followers to be applied")
    assert probe.applied(key) == [(2, follower), (3, later)]


def same_partition_keys(count: int) -> list[str]:
    first = str(uuid.uuid4())
    keys = [first]
    while len(keys) < count:
        candidate = str(uuid.uuid4())
        if partition_for(candidate) == partition_for(first):
            keys.append(candidate)
    return keys


def test_a_poison_record_in_the_middle_of_a_batch_goes_alone_and_the_rest_apply_once(probe):
    probe.stop()  # the records pile up, then arrive in one fetch (one partition: one fetch response)
    keys = same_partition_keys(9)
    poison_key = keys[4]
    sent = {key: probe.send(key, 1, refuse=(key == poison_key)) for key in keys}
    probe.start()
    wait_until(
        lambda: (
            all(probe.applied(k) for k in keys if k != poison_key) and len(probe.pending(poison_key)) == 1
        ),
        60,
        "the batch to be applied",
    )
    assert probe.runtime is not None
    counters = probe.runtime.counters
    assert counters.batches_split >= 1  # the batch with the poison was applied one by one
    assert counters.dead_lettered == 1
    for key in keys:
        expected = [] if key == poison_key else [(1, sent[key])]
        assert probe.applied(key) == expected  # each once: nothing of the failed batch was kept
    assert probe.pending(poison_key)[0].event_id == sent[poison_key]

    probe.stop()
    clean = same_partition_keys(6)
    for key in clean:
        probe.send(key, 1)
    probe.start()
    wait_until(lambda: all(probe.applied(k) for k in clean), 60, "a clean batch")
    assert probe.runtime.counters.batches >= 1 and probe.runtime.counters.batches_split == 0
