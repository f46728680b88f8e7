"""The two references a run measures beside Debezium: the database's own ceiling (the same
transactions through the same handlers, no Kafka) and a plain polling relay."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer
from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, select, update
from sqlalchemy.dialects.mysql import DATETIME, MEDIUMBLOB

from devstack.stack import Stack
from outboxkit import Event, Settings, TypedHandler
from outboxkit.ops import (
    AvroEventDeserializer,
    EventRoutes,
    Record,
    RecordApplier,
    SqlGuardTables,
    consumer_config,
    decode_record as decode,
    ensure_topics,
    producer_config,
)
from outboxkit.testing import published_record
from saga_bench.phases import percentiles
from services import build_all
from services.instances import cpu_seconds
from services.inventory.commands import HANDLERS as INVENTORY, set_stock
from services.order.commands import HANDLERS as ORDER_HANDLERS, place_order
from services.order.domain import OrderLine
from services.payment.commands import HANDLERS as PAYMENT_HANDLERS


class RecordingOutboxWriter:
    """An outbox writer that also keeps what it wrote: the ceiling feeds each emitted event to
    the next service's handler directly, as Kafka would have."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.recorded: list[Any] = []

    def row(self, event: Any) -> dict[str, Any]:
        row: dict[str, Any] = self.inner.row(event)
        self.recorded.append(row)
        return row

    def write(self, connection: Any, rows: list[dict[str, Any]]) -> None:
        self.inner.write(connection, rows)


def ceiling_worker(duration_s: float, sku: str, batch: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One connection's worth of saga transactions, as fast as the database takes them: orders
    placed one per transaction, as the writers do, and each service's records applied in
    batches of ``batch``, as the consumer runtime does."""

    settings = Settings.load()
    contexts = build_all(settings, migrate=False)
    recorder: dict[str, RecordingOutboxWriter] = {}
    for name, ctx in list(contexts.items()):
        recorder[name] = RecordingOutboxWriter(ctx.outbox)
        ctx.outbox = recorder[name]  # type: ignore[assignment]  # its units of work read it when opened
    routes: dict[str, Mapping[type[Event], TypedHandler[Any]]] = {
        "inventory": INVENTORY,
        "payment": PAYMENT_HANDLERS,
        "order": ORDER_HANDLERS,
    }

    def guard_tables(name: str) -> Any:
        return lambda uow: SqlGuardTables(uow.connection, contexts[name].messaging, f"ceiling-{name}")

    appliers = {
        name: RecordApplier(
            f"ceiling-{name}",
            EventRoutes(routed, name),
            contexts[name].uow_factory,
            guard_tables(name),
            AvroEventDeserializer(contexts[name].registry, contexts[name].catalog),
        )
        for name, routed in routes.items()
    }

    def apply(service: str, rows: list[dict[str, Any]]) -> None:
        """One batch, one transaction: what the consumer runtime does with a fetch (decoding the
        records Debezium would publish for the rows included)."""
        appliers[service].apply([published_record(row) for row in rows])

    done = 0
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        for writer in recorder.values():
            writer.recorded.clear()
        for _ in range(batch):
            place_order(contexts["order"].uow_factory, "ceiling", [OrderLine(sku, 1, 100)])
        apply("inventory", list(recorder["order"].recorded))
        reserved = list(recorder["inventory"].recorded)
        apply("payment", reserved)
        apply("order", reserved)
        apply("order", list(recorder["payment"].recorded))
        done += batch
    results.put(done)


def db_ceiling(contexts: dict[str, Any], connections: int, duration_s: float, batch: int) -> dict[str, Any]:
    """The same transactions the saga commits, through the same handlers, inbox and version
    guard, with no Kafka, from as many processes as the saga has connections: how many orders
    per second the database (and the Python that drives it) takes."""
    sku = f"CEIL-{uuid.uuid4().hex[:6]}"
    set_stock(contexts["inventory"].uow_factory, sku, 2_000_000_000)
    spawn = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = spawn.Queue()  # type: ignore[type-arg]
    workers = [
        spawn.Process(target=ceiling_worker, args=(duration_s, sku, batch, queue)) for _ in range(connections)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    total = sum(queue.get(timeout=duration_s + 120) for _ in workers)
    elapsed = time.monotonic() - started - 2.0  # the workers' start-up, roughly
    for worker in workers:
        worker.join(30)
    return {
        "connections": connections,
        "orders": total,
        "orders_per_s": round(total / max(elapsed, 1.0), 1),
        "batch": batch,
    }


relay_metadata = MetaData()
relay_outbox = Table(
    "bench_relay_outbox",
    relay_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("aggregateid", String(64), nullable=False),
    Column("payload", MEDIUMBLOB, nullable=False),
    Column("occurred_at", DATETIME(fsp=6), nullable=False),
    Column("published_at", DATETIME(fsp=6)),
    Index("ix_bench_relay_unpublished", "published_at", "seq"),
)


def relay_reference(
    contexts: dict[str, Any], rate: float, duration_s: float, poll_ms: float | None, stack: Stack
) -> dict[str, Any]:
    """Commit-to-consume at ``rate`` through a polling relay (``poll_ms``) or Debezium (None),
    measured by a plain reader, with the database's CPU over the window."""

    settings: Settings = contexts["order"].settings
    engine = contexts["order"].engine
    relay_metadata.create_all(engine)
    topic = "bench-relay.events" if poll_ms is not None else "order.events"
    ensure_topics(settings.kafka_bootstrap_servers, [topic])
    reader = Consumer(
        consumer_config(
            settings.kafka_bootstrap_servers,
            f"bench-reader-{uuid.uuid4()}",
            **{"auto.offset.reset": "latest"},
        )
    )
    reader.subscribe([topic])
    deadline = time.monotonic() + 20
    while not reader.assignment() and time.monotonic() < deadline:
        reader.poll(0.2)
    stop = threading.Event()
    latencies: list[float] = []
    keys: set[str] = set()
    run = f"relay-{uuid.uuid4().hex[:6]}"

    deserializer = None
    if poll_ms is None:
        deserializer = AvroEventDeserializer(contexts["order"].registry, contexts["order"].catalog)

    def read() -> None:
        while not stop.is_set():
            message = reader.poll(0.1)
            if message is None or message.error() is not None:
                continue
            record = Record.of(message)
            if record.key not in keys:
                continue
            if deserializer is not None:
                latency = decode(record, deserializer).latency_ms()
                if latency is not None:
                    latencies.append(latency)
            else:
                committed = float(record.headers["bench.committed"])
                latencies.append((time.time() - committed) * 1000)

    def relay() -> None:
        producer = Producer(producer_config(settings.kafka_bootstrap_servers))
        with engine.connect() as c:
            while not stop.is_set():
                rows = c.execute(
                    select(relay_outbox)
                    .where(relay_outbox.c.published_at.is_(None))
                    .order_by(relay_outbox.c.seq)
                    .limit(1000)
                ).all()
                for r in rows:
                    producer.produce(
                        topic,
                        key=r.aggregateid,
                        value=r.payload,
                        headers=[
                            ("id", r.id),
                            ("bench.committed", str(r.occurred_at.replace(tzinfo=UTC).timestamp())),
                        ],
                    )
                if rows:
                    producer.flush(30)
                    c.execute(
                        update(relay_outbox)
                        .where(relay_outbox.c.seq.in_([r.seq for r in rows]))
                        .values(published_at=datetime.now(UTC).replace(tzinfo=None))
                    )
                c.commit()
                stop.wait((poll_ms or 100) / 1000)

    threads = [threading.Thread(target=read, daemon=True)]
    if poll_ms is not None:
        threads.append(threading.Thread(target=relay, daemon=True))
    for thread in threads:
        thread.start()
    mariadb_pid = stack.mariadb.process.running_pid()
    cpu_before = cpu_seconds(mariadb_pid)
    started = time.monotonic()
    count = int(rate * duration_s)
    for n in range(count):
        due = started + n / rate
        time.sleep(max(0.0, due - time.monotonic()))
        key = str(uuid.uuid4())
        keys.add(key)
        if poll_ms is None:
            # The real path: OrderCreated through the outbox and Debezium. The commit time is the
            # outbox row's occurredAt, which the reader takes from the record itself.
            order = place_order(contexts["order"].uow_factory, run, [OrderLine("RELAY", 1, 1)], order_id=key)
            del order
        else:
            with engine.begin() as c:
                now = datetime.now(UTC).replace(tzinfo=None)
                c.execute(
                    relay_outbox.insert().values(
                        id=str(uuid.uuid4()), aggregateid=key, payload=b"\x00" * 200, occurred_at=now
                    )
                )
    time.sleep(3)
    elapsed = time.monotonic() - started
    cpu_after = cpu_seconds(mariadb_pid)
    stop.set()
    for thread in threads:
        thread.join(10)
    reader.close()
    return {
        "path": "debezium" if poll_ms is None else f"polling relay every {poll_ms:g} ms",
        "rate": rate,
        "latency_ms": percentiles(latencies),
        "mariadb_cpu_pct": round((cpu_after - cpu_before) / elapsed * 100, 1),
    }
