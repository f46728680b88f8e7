"""The tables the messaging patterns keep in every service's own database, declared in one place.

``outbox`` (dual write), ``inbox`` (duplicates) with ``inbox_horizon`` (how far it was pruned),
``aggregate_versions`` (out-of-order events) and ``dead_letters`` (records owed after a failure,
and keys parked behind them). A service adds them to its metadata next to its domain tables, so
they are created and migrated together; the code that reads and writes each lives with its
pattern (:mod:`outboxkit.publishing.outbox`, :mod:`outboxkit.consuming.inbox`,
:mod:`outboxkit.consuming.version_guard`, :mod:`outboxkit.dead_letters.queue`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import BIGINT, CHAR, DATETIME, MEDIUMBLOB


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table, in the column names the Outbox Event Router expects by default."""
    return Table(
        "outbox",
        metadata,
        Column("id", CHAR(36), primary_key=True),
        Column("aggregatetype", String(64), nullable=False),
        Column("aggregateid", String(64), nullable=False),
        Column("type", String(128), nullable=False),
        Column("aggregate_version", BigInteger, nullable=False),
        Column("payload", MEDIUMBLOB, nullable=False),
        Column("occurred_at", DATETIME(fsp=6), nullable=False),
        # outboxkit.base.tracing: the router places these in headers (nullable: added to older tables).
        Column("correlation_id", String(64)),
        Column("causation_id", String(64)),
        Column("traceparent", String(55)),
        Index("ix_outbox_occurred_at", "occurred_at"),
        # What was written for one aggregate: how far behind a read model is (outboxkit.read_models.sync).
        Index("ix_outbox_aggregate", "aggregateid", "aggregatetype", "aggregate_version"),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("event_id", CHAR(36), primary_key=True),
        Column("event_type", String(128), nullable=False),
        Column("topic", String(255), nullable=False),
        Column("kafka_partition", Integer, nullable=False),
        Column("kafka_offset", BIGINT, nullable=False),
        Column("processed_at", DATETIME(fsp=6), nullable=False),
        # What was applied to which aggregate, so that the order of application can be audited
        # (the fault suite checks that versions never went back). Nullable: added in place to
        # inboxes created before these columns existed.
        Column("aggregate_type", String(64)),
        Column("aggregate_id", String(64)),
        Column("aggregate_version", BIGINT),
        Column("outcome", String(16)),
        # The pruning's path (outboxkit.consuming.inbox.prune_inbox): a group's oldest receipts first.
        Index("ix_inbox_group_processed", "consumer_group", "processed_at"),
    )


def inbox_horizon_table(metadata: MetaData) -> Table:
    """Per group and partition, the offset below which receipts may have been pruned
    (outboxkit.consuming.inbox.prune_inbox): a rewind below it meets the version guard alone."""
    return Table(
        "inbox_horizon",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("topic", String(255), primary_key=True),
        Column("kafka_partition", Integer, primary_key=True),
        # Receipts of records below this offset may have been pruned.
        Column("below_offset", BIGINT, nullable=False),
        Column("pruned_at", DATETIME(fsp=6), nullable=False),
    )


def aggregate_versions_table(metadata: MetaData) -> Table:
    return Table(
        "aggregate_versions",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("aggregate_type", String(64), primary_key=True),
        Column("aggregate_id", String(64), primary_key=True),
        Column("version", BIGINT, nullable=False),
        Column("updated_at", DATETIME(fsp=6), nullable=False),
    )


def dead_letters_table(metadata: MetaData) -> Table:
    return Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("consumer_group", String(128), nullable=False),
        Column("record_key", String(255)),
        Column("source_topic", String(255), nullable=False),
        Column("source_partition", Integer, nullable=False),
        Column("source_offset", BigInteger, nullable=False),
        Column("event_id", String(64)),
        Column("event_type", String(128)),
        # The id of the row this record was parked behind; None when it failed by itself.
        Column("parked_behind", BigInteger),
        Column("error_class", String(128), nullable=False),
        Column("error_message", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("first_failed_at", DATETIME(fsp=6), nullable=False),
        Column("last_failed_at", DATETIME(fsp=6), nullable=False),
        Column("dlq_partition", Integer, nullable=False),
        Column("dlq_offset", BigInteger, nullable=False),
        Column("reinjected", Integer, nullable=False, default=0),
        Column("last_reinjected_at", DATETIME(fsp=6)),
        UniqueConstraint(
            "consumer_group",
            "source_topic",
            "source_partition",
            "source_offset",
            name="uq_dead_letters_source",
        ),
        Index("ix_dead_letters_key", "consumer_group", "record_key", "id"),
    )


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    aggregate_versions: Table
    dead_letters: Table
    inbox_horizon: Table

    @classmethod
    def add_to(cls, metadata: MetaData) -> MessagingTables:
        return cls(
            outbox_table(metadata),
            inbox_table(metadata),
            aggregate_versions_table(metadata),
            dead_letters_table(metadata),
            inbox_horizon_table(metadata),
        )

    @classmethod
    def of(cls, metadata: MetaData) -> MessagingTables:
        """The messaging tables already added to ``metadata`` (by :meth:`add_to`)."""
        try:
            return cls(
                *(
                    metadata.tables[name]
                    for name in ("outbox", "inbox", "aggregate_versions", "dead_letters", "inbox_horizon")
                )
            )
        except KeyError as missing:
            raise LookupError(
                f"metadata lacks the messaging table {missing}: call "
                "MessagingTables.add_to(metadata) in the service's tables.py"
            ) from None
