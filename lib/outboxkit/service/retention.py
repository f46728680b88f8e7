"""Bounded tables: a running service prunes its own inbox and outbox, each behind a safety rule.

Without pruning, every applied event leaves an inbox row per consumer group and every event an
outbox row, forever. Each table is pruned continuously, in small batches (one short transaction
each), by the service's own process: nobody has to remember a cron job, and no big ``DELETE``
ever locks a table.

**The outbox rule** (the same as ``prune-outbox``'s, :func:`outboxkit.publishing.outbox.plan_prune`): a row
goes once it is older than ``OUTBOX_RETENTION_DAYS`` *and* older than what the connector has
confirmed publishing. An unpublished row is never deleted, whatever its age: a connector that is
down, or whose binlog position was purged (``outboxkit cdc recover``), still finds every row it owes.

**The inbox rule (the inbox horizon).** A group needs an event id only while the event can still
reach it again. Kafka delivers a record again only to a group whose committed offset is not past
it (a crash before the commit), so a receipt must stay while the group has not committed past its
record. The same event can also come back as a *new* record: a `outboxkit cdc recover` republishes rows
since the connector's last confirmed position, and a Connect without exactly-once re-sends what
it published since its last offset flush. Those come within days at most, so a receipt stays
``INBOX_RETENTION_DAYS`` besides (default 7, the binlog retention: a republication cannot reach
back further than the binlog the connector reads). A receipt goes once both hold.

Past the horizon the version guard (``aggregate_versions``: one row per aggregate, never pruned)
still keeps a repeat out: its version is not newer than the aggregate's, so it is skipped as
stale, not applied. What the horizon changes is only how a repeat is counted. Each pruning
records, per partition, the offset below which receipts may be gone (``inbox_horizon``); an
operator who rewinds the group's offsets below it is told so (``<service> rewind``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import (
    Engine,
)
from sqlalchemy.exc import OperationalError

from outboxkit.base.clock import utc_now
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.cdc.progress import CdcProgressUnknown, published_through
from outboxkit.consuming.inbox import prune_inbox
from outboxkit.kafka.clients import CommittedOffsets
from outboxkit.publishing.outbox import prune_cutoff, prune_outbox
from outboxkit.storage.messaging_tables import MessagingTables

log = logging.getLogger(__name__)

# The most batches one round deletes: a backlog (a first start on years of rows) drains over
# several rounds instead of holding the database busy for one long stretch. 200 batches of 1,000
# a minute is 3,300 rows/s, three times what 100 orders/s adds to an inbox.
MAX_BATCHES_PER_ROUND = 200
# After each batch, a rest as long as the batch took: the pruning uses at most half of one
# connection's time, and the hot path's transactions get the database in between.
REST_RATIO = 1.0
# A pruning batch that meets another instance's pruning (or a lock the hot path holds) gives way
# and tries again on the next round: pruning is never worth a wait.
LOCK_ERRORS = {1205, 1213}  # lock wait timeout, deadlock


class Pruner:
    """The periodic job of a running service: its inbox receipts past the horizon, its published
    outbox rows past their retention."""

    def __init__(
        self,
        engine: Engine,
        tables: MessagingTables,
        group: str,
        topics: list[str],
        connector: str | None,
        bootstrap_servers: str,
        connect_url: str,
        inbox_retention: timedelta,
        outbox_retention: timedelta,
        batch_size: int,
    ) -> None:
        self.engine = engine
        self.inbox, self.horizon, self.outbox = tables.inbox, tables.inbox_horizon, tables.outbox
        self.group = group
        self.topics = topics
        self.inbox_retention, self.outbox_retention = inbox_retention, outbox_retention
        self.batch_size = batch_size
        self.bootstrap_servers = bootstrap_servers
        self.connect_url = connect_url
        self.connector = connector  # the one that publishes this outbox (None: nothing does)
        self._committed: CommittedOffsets | None = None
        self._said: str | None = None

    __name__ = "pruning"

    def __call__(self) -> None:
        try:
            receipts = self.prune_inbox()
            rows = self.prune_outbox()
        except OperationalError as exc:
            if exc.orig is not None and exc.orig.args and exc.orig.args[0] in LOCK_ERRORS:
                log.debug("%s: pruning met a lock; it tries again next round", self.group)
                return
            raise
        if receipts or rows:
            log.info(
                "%s: pruned %d inbox receipt(s) (applied over %s ago, behind the committed offsets) "
                "and %d outbox row(s) (published, over %s old)",
                self.group,
                receipts,
                _days(self.inbox_retention),
                rows,
                _days(self.outbox_retention),
            )

    def prune_inbox(self) -> int:
        if self._committed is None:
            self._committed = CommittedOffsets(self.bootstrap_servers)
        committed = {
            (tp.topic, tp.partition): tp.offset for tp in self._committed.of_topics(self.group, self.topics)
        }
        return prune_inbox(
            self.engine,
            self.inbox,
            self.horizon,
            self.group,
            committed,
            utc_now() - self.inbox_retention,
            self.batch_size,
            MAX_BATCHES_PER_ROUND,
            REST_RATIO,
        )

    def prune_outbox(self) -> int:
        if self.connector is None:
            return 0  # nothing publishes this database's outbox: nothing says what may go
        try:
            through = published_through(ConnectClient(self.connect_url), self.connector)
        except CdcProgressUnknown as exc:
            self._say_once(f"{self.group}: outbox rows are kept for now: {exc}")
            return 0
        self._said = None
        with self.engine.connect() as connection:
            return prune_outbox(
                connection,
                self.outbox,
                prune_cutoff(self.outbox_retention, through),
                self.batch_size,
                max_batches=MAX_BATCHES_PER_ROUND,
                rest_ratio=REST_RATIO,
            )

    def _say_once(self, message: str) -> None:
        if message != self._said:
            log.warning("%s", message)
            self._said = message

    def close(self) -> None:
        if self._committed is not None:
            self._committed.close()


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g} days" if days >= 1 else f"{span.total_seconds():g}s"
