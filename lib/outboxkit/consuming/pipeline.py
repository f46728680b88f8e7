"""One fetched batch, from records to stored offsets: decode, guard, apply, settle.

The batch is applied in one transaction (:meth:`RecordApplier.apply`: decode, the guard, the
handlers); if anything in it fails, its records are applied one by one instead (each a batch of
one), so a failure is pinned on its record. Per record, what a failure means decides what
happens (:mod:`outboxkit.base.failures`): an outage is waited out with the record held
(:mod:`outboxkit.consuming.outages`), a conflict is tried a bounded number of times, a record that
cannot be applied goes to the dead-letter queue and later records of its key park behind it
(:mod:`outboxkit.dead_letters.queue`). Each settled record is then handed to ``store`` (its
offset may be committed); a record that is not settled (stopping, or its partition revoked while
it waited) is not stored, and its partition's next owner gets it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from outboxkit.base.failures import Failure, FailureKind, RecordRejectedError, RetryPolicy, classify
from outboxkit.consuming.applier import Outcome, RecordApplier, Result
from outboxkit.consuming.metrics import ConsumerMetrics
from outboxkit.consuming.outages import OutageWaiter
from outboxkit.consuming.progress import Counters, PartitionPositions
from outboxkit.dead_letters.queue import DeadLetterQueue, DeadLetterReason, SourceRecord
from outboxkit.kafka.records import Record
from outboxkit.serialization.avro import UndecodableRecordError
from outboxkit.serialization.schema_registry import UnknownSchemaIdError

log = logging.getLogger(__name__)

# Failures whose message says it all; anything else is logged with its traceback (likely a bug).
EXPECTED_RECORD_FAILURES = (UndecodableRecordError, UnknownSchemaIdError, RecordRejectedError)


class RecordPipeline:
    def __init__(
        self,
        applier: RecordApplier,
        dead_letters: DeadLetterQueue,
        outages: OutageWaiter,
        counters: Counters,
        metrics: ConsumerMetrics,
        retry: RetryPolicy,
        stop: threading.Event,
        positions: PartitionPositions,
        store: Callable[[Record], None],
    ) -> None:
        self.group_id = applier.group_id
        self.applier = applier
        self.dead_letters = dead_letters
        self.outages = outages
        self.counters = counters
        self.metrics = metrics
        self.retry = retry
        self.stop = stop
        self.positions = positions
        self.store = store

    def handle(self, records: list[Record], in_one_transaction: bool) -> bool:
        """Settle and store ``records`` in order; False when the rest must stay un-stored."""
        if in_one_transaction and len(records) > 1:
            return self._as_one_batch(records)
        return self.one_by_one(records)

    def one_by_one(self, records: list[Record]) -> bool:
        for record in records:
            if self.stop.is_set():
                return False  # not stored: the next owner of the partition gets it
            if not self.positions.owns(record.topic, record.partition):
                continue  # revoked while an earlier record waited out an outage
            if not self._settle_one(record):
                return False
            self.store(record)
        return True

    def _as_one_batch(self, records: list[Record]) -> bool:
        try:
            results = self.applier.apply(records)
        except Exception as exc:
            self.counters.batches_split += 1
            log.info(
                "%s: a batch of %d record(s) failed (%s); applying them one by one",
                self.group_id,
                len(records),
                classify(exc).summary,
            )
            return self.one_by_one(records)
        self.counters.batches += 1
        self.outages.answered()
        for record, result in zip(records, results, strict=True):
            if not self._count(record, result):
                return False  # a parked record not dead-lettered (stopping): it and the rest wait
            self.store(record)
        return True

    def _settle_one(self, record: Record) -> bool:
        """Apply, park or dead-letter ``record``; False if it must stay un-stored."""
        conflicts = 0
        outage_tries = 0
        first_failure: datetime | None = None
        while True:
            try:
                (result,) = self.applier.apply([record])
            except Exception as exc:
                failure = classify(exc)
                first_failure = first_failure or datetime.now(UTC)
                if failure.kind is FailureKind.OUTAGE:
                    outage_tries += 1
                    if not self.outages.wait_out(failure, record, outage_tries):
                        return False
                    continue
                conflicts += 1
                if failure.kind is FailureKind.CONFLICT and self.retry.retries_conflict(conflicts):
                    if not self._back_off_conflict(record, failure, conflicts):
                        return False
                    continue
                if failure.kind is FailureKind.RECORD:
                    log.error(
                        "%s: %s cannot be applied: %s",
                        self.group_id,
                        record.where,
                        failure.summary,
                        exc_info=not isinstance(exc, EXPECTED_RECORD_FAILURES),
                    )
                reason = DeadLetterReason(type(exc).__name__, failure, conflicts, first_failure)
                if not self._dead_letter(record, reason):
                    return False
                self.counters.dead_lettered += 1
                self.outages.answered()
                return True
            self.outages.answered()
            return self._count(record, result)

    def _count(self, record: Record, result: Result) -> bool:
        """What the applier did with the record, counted and logged; a record to park behind an
        earlier dead letter of its key is sent to the dead-letter queue here."""
        event = result.event
        outcome = result.outcome
        if outcome is Outcome.IGNORED:
            self.counters.ignored += 1
            return True
        assert event is not None
        if outcome is Outcome.APPLIED:
            self.counters.processed += 1
            self.metrics.applied(event, time.time())
        elif outcome is Outcome.DUPLICATE:
            self.counters.duplicates += 1
            log.info(
                "%s: duplicate %s %s for %s skipped",
                self.group_id,
                event.event_type,
                event.event_id,
                event.key,
            )
        elif outcome is Outcome.STALE:
            self.counters.stale += 1
            log.info(
                "%s: stale %s v%d for %s skipped",
                self.group_id,
                event.event_type,
                event.aggregate_version,
                event.key,
            )
        elif outcome is Outcome.NOT_PENDING:
            self.counters.duplicates += 1
            log.info(
                "%s: re-injected %s %s is no longer pending (applied or purged); skipped",
                self.group_id,
                event.event_type,
                event.event_id,
            )
        elif outcome is Outcome.STILL_PARKED:
            assert result.ahead is not None
            log.info(
                "%s: re-injected %s %s stays parked behind %s",
                self.group_id,
                event.event_type,
                event.event_id,
                result.ahead.describe(),
            )
        elif outcome is Outcome.PARK:
            assert result.ahead is not None
            if not self._dead_letter(record, DeadLetterReason.parked_behind(result.ahead)):
                return False
            self.counters.parked += 1
        return True

    def _dead_letter(self, record: Record, reason: DeadLetterReason) -> bool:
        """Send to the DLQ; waits out an outage of the broker or the database while doing so."""
        source = SourceRecord.of(record)
        tries = 0
        while True:
            try:
                what = self.dead_letters.send(record, source, reason)
                log.warning(
                    "%s: %s %s after %d attempt(s): %s",
                    self.group_id,
                    record.where,
                    what,
                    reason.attempts,
                    reason.failure.summary,
                )
                return True
            except Exception as exc:
                failure = classify(exc)
                if failure.kind is not FailureKind.OUTAGE:
                    # Neither applied nor dead-lettered: the record must not be passed over.
                    log.exception("%s: %s could not be dead-lettered", self.group_id, record.where)
                    failure = Failure(FailureKind.OUTAGE, failure.summary, "dead-letter queue")
                tries += 1
                if not self.outages.wait_out(failure, record, tries):
                    return False

    def _back_off_conflict(self, record: Record, failure: Failure, attempt: int) -> bool:
        delay = self.retry.conflict_backoff.delay(attempt)
        self.counters.retried += 1
        log.warning(
            "%s: %s conflicted (%s); retry %d in %.2fs",
            self.group_id,
            record.where,
            failure.summary,
            attempt,
            delay,
        )
        return not self.stop.wait(delay)
