"""Late events: how far a read model is behind what was written, for read-your-writes.

A read model applies events some time after the transaction that wrote them. A reader is told
which: ``in_sync`` when the view has applied every event written for the aggregate (and at least
the version the reader says it wrote), else ``pending`` with how many versions and how many
seconds the view is behind. What was written is read from the writer's outbox, the one record of
every event it committed, indexed by aggregate for this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, case, func, select

from outboxkit.base.errors import InvalidValueError

IN_SYNC = "in_sync"
PENDING = "pending"


@dataclass(frozen=True)
class Written:
    """What the writer committed for one aggregate, as seen from a view at ``applied_version``."""

    version: int  # the latest event version written (0: none on record, e.g. pruned)
    first_unapplied_at: datetime | None  # when the oldest event the view lacks was written


@dataclass(frozen=True)
class SyncState:
    state: str
    applied_version: int
    expected_version: int
    versions_behind: int
    seconds_behind: float

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "appliedVersion": self.applied_version,
            "expectedVersion": self.expected_version,
            "versionsBehind": self.versions_behind,
            "secondsBehind": round(self.seconds_behind, 3),
        }


class VersionNotWrittenError(InvalidValueError):
    """A reader asked for a version that was never written: it would wait forever."""


def sync_state(
    applied_version: int, written: Written, now: datetime, min_version: int | None = None
) -> SyncState:
    """Where a view at ``applied_version`` stands against ``written`` and the reader's own
    ``min_version`` (the version its last write produced)."""
    if min_version is not None and written.version and min_version > written.version:
        raise VersionNotWrittenError(
            f"min_version {min_version} is ahead of the latest version written ({written.version})"
        )
    # Nothing on record (pruned long ago): what the view has is all there was.
    expected = max(written.version or applied_version, min_version or 0)
    behind = max(0, expected - applied_version)
    if behind == 0:
        return SyncState(IN_SYNC, applied_version, expected, 0, 0.0)
    seconds = (now - written.first_unapplied_at).total_seconds() if written.first_unapplied_at else 0.0
    return SyncState(PENDING, applied_version, expected, behind, max(0.0, seconds))


def written_for(
    connection: Connection, outbox: Table, aggregate_type: str, aggregate_id: str, applied_version: int
) -> Written:
    """What the outbox holds for one aggregate (one indexed statement)."""
    row = connection.execute(
        select(
            func.max(outbox.c.aggregate_version),
            func.min(case((outbox.c.aggregate_version > applied_version, outbox.c.occurred_at))),
        ).where(outbox.c.aggregateid == aggregate_id, outbox.c.aggregatetype == aggregate_type)
    ).one()
    return Written(int(row[0] or 0), row[1])
