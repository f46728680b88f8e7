"""The tables the messaging patterns keep in every service's own database.

``outbox`` (dual write), ``inbox`` (duplicates) with ``inbox_horizon`` (how far it was pruned),
``aggregate_versions`` (out-of-order events) and ``dead_letters`` (records owed after a failure,
and keys parked behind them). A service adds them
to its metadata next to its domain tables, so they are created and migrated together.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData, Table

from eventcore.consuming.inbox import inbox_horizon_table, inbox_table
from eventcore.consuming.version_guard import aggregate_versions_table
from eventcore.dead_letters.queue import dead_letters_table
from eventcore.publishing.outbox import outbox_table


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
