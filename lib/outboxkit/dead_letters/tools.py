"""What an operator does with a group's dead letters: list, show, re-inject, purge.

The group's ``dead_letters`` table says what is still owed; the ``<group>.dlq`` topic holds the
bytes. Re-injection sends a key's pending records, oldest first, to ``<group>.retry``, which
only that group reads: another group consuming the original topic never sees them again. The
consumer applies a re-injected record only while it is the first pending record of its key and
removes it from the table in the same transaction, so re-injecting twice has one effect and a
record that fails again stays first in line (with its later records still parked behind it).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import Engine

from outboxkit.base.clock import utc_now
from outboxkit.base.errors import NotFoundError
from outboxkit.base.failures import DependencyUnavailableError
from outboxkit.base.topics import dead_letter_topic_for, retry_topic_for
from outboxkit.dead_letters.queue import (
    DLQ_HEADERS,
    H_OFFSET,
    H_PARTITION,
    H_REINJECTED_AT,
    H_TOPIC,
    DeadLetterRow,
    DeadLetterStore,
    OutgoingRecord,
    produce_all_and_wait,
)
from outboxkit.kafka.clients import consumer_config, producer_config
from outboxkit.kafka.records import Record

log = logging.getLogger(__name__)


class DeadLetterSelectionError(NotFoundError):
    """The selection names no pending dead letter."""


@dataclass(frozen=True)
class Reinjected:
    row: DeadLetterRow
    partition: int
    offset: int


class DeadLetterTools:
    """The operator's view of one consumer group's dead letters."""

    def __init__(self, engine: Engine, store: DeadLetterStore, bootstrap_servers: str) -> None:
        self.engine = engine
        self.store = store
        self.group = store.group
        self.topic = dead_letter_topic_for(self.group)
        self.retry_topic = retry_topic_for(self.group)
        self._bootstrap = bootstrap_servers

    # -- reading -----------------------------------------------------------------------------

    def pending(self) -> list[DeadLetterRow]:
        with self.engine.connect() as connection:
            return self.store.pending(connection)

    def select(
        self,
        key: str | None = None,
        reference: str | None = None,
        everything: bool = False,
        whole_queue: bool = False,
    ) -> tuple[list[DeadLetterRow], str]:
        """The rows to act on, oldest first, and a sentence saying what was chosen.

        ``whole_queue`` (re-injection): a record is not sent apart from its key, since sending it
        alone would only park it again behind the ones before it, so an event id stands for the
        queue of its key, from the first pending record on. Without it (purge), exactly that one.
        """
        with self.engine.connect() as connection:
            if everything:
                rows = self.store.pending(connection)
                return rows, f"all {len(rows)} pending dead letter(s)"
            if key is not None:
                rows = self.store.pending(connection, keys=[key])
                if not rows:
                    raise DeadLetterSelectionError(f"{self.group} has no pending dead letter with key {key}")
                return rows, f"the {len(rows)} pending record(s) of key {key}"
            assert reference is not None
            row = self.store.by_event_or_id(connection, reference)
            if row is None:
                raise DeadLetterSelectionError(
                    f"{self.group} has no pending dead letter {reference} (an event id or a # from "
                    "`dlq list`)"
                )
            if row.record_key is None or not whole_queue:
                return [row], f"dead letter #{row.id}"
            rows = self.store.pending(connection, keys=[row.record_key])
        if len(rows) == 1:
            return rows, f"dead letter #{row.id}"
        return rows, (
            f"#{row.id} and the rest of its key {row.record_key}'s queue, {len(rows)} "
            "record(s) in their original order"
        )

    def copies(self, rows: Iterable[DeadLetterRow]) -> dict[int, Record]:
        """The DLQ topic's copy of each row (row id -> record); rows whose copy is gone are absent."""
        wanted: dict[int, dict[int, DeadLetterRow]] = defaultdict(dict)
        for row in rows:
            wanted[row.dlq_partition][row.dlq_offset] = row
        found: dict[int, Record] = {}
        if not wanted:
            return found
        reader = Consumer(consumer_config(self._bootstrap, f"{self.group}.dlq-reader-{uuid.uuid4()}"))
        try:
            for partition, by_offset in wanted.items():
                low, high = reader.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=15)
                targets = {o for o in by_offset if low <= o < high}
                if not targets:
                    continue
                reader.assign([TopicPartition(self.topic, partition, min(targets))])
                last = max(targets)
                while targets:
                    message = reader.poll(10)
                    if message is None:
                        raise DependencyUnavailableError(
                            "broker", f"reading {self.topic}[{partition}] stalled at offset {min(targets)}"
                        )
                    if message.error() is not None:
                        continue
                    record = Record.of(message)
                    if record.offset in targets:
                        found[by_offset[record.offset].id] = record
                        targets.discard(record.offset)
                    if record.offset >= last:
                        break
        finally:
            reader.close()
        return found

    # -- acting ------------------------------------------------------------------------------

    def reinject(
        self, rows: list[DeadLetterRow], dry_run: bool = False
    ) -> tuple[list[Reinjected], list[DeadLetterRow]]:
        """Send ``rows`` (in their order) to the group's retry topic; returns what was sent and
        the rows whose DLQ copy could not be found (nothing is sent for their key after them)."""
        copies = self.copies(rows)
        missing = [row for row in rows if row.id not in copies]
        blocked_keys = {row.record_key for row in missing}
        to_send = [
            row
            for row in rows
            if row.id in copies and (row.record_key is None or row.record_key not in blocked_keys)
        ]
        if dry_run or not to_send:
            return [Reinjected(row, -1, -1) for row in to_send], missing
        now = datetime.now(UTC).isoformat()
        outgoing: list[OutgoingRecord] = []
        for row in to_send:
            copy = copies[row.id]
            headers = [(k, v) for k, v in copy.header_items if k not in DLQ_HEADERS]
            headers += [
                (H_TOPIC, row.source.topic),
                (H_PARTITION, str(row.source.partition)),
                (H_OFFSET, str(row.source.offset)),
                (H_REINJECTED_AT, now),
            ]
            outgoing.append((copy.raw_key, copy.value, headers))
        producer = Producer(producer_config(self._bootstrap))
        positions = produce_all_and_wait(producer, self.retry_topic, outgoing)
        acknowledged = {row.id: position for row, position in zip(to_send, positions, strict=True)}
        sent = []
        with self.engine.begin() as connection:
            for row in to_send:
                self.store.mark_reinjected(connection, row.id)
                partition, offset = acknowledged[row.id]
                sent.append(Reinjected(row, partition, offset))
        return sent, missing

    def purge(self, rows: list[DeadLetterRow]) -> int:
        with self.engine.begin() as connection:
            return self.store.purge(connection, [row.id for row in rows])


def age(since: datetime, now: datetime | None = None) -> str:
    """A short human age: 42s, 3m07s, 5h02m, 2d03h."""
    seconds = max(0, int(((now or utc_now()) - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
