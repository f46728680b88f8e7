"""Rebuilding a read model from the topics: forget, then apply every event again, in order.

A read model holds nothing the topics do not: its views follow from the events alone. So it can
be dropped and rebuilt, e.g. after a bug in a projection was fixed. The order of the steps makes
an interrupted rebuild safe to run again, or to finish with ``run``:

1. refuse while the read model's consumers run (they would keep applying into what is cleared);
2. delete the consumer group's offsets, so it reads its topics from the beginning again;
3. clear the views and what the group remembers (inbox, versions, dead letters) in one transaction;
4. apply every topic to its current end, with progress in the log, then stop.

Had step 3 come first, a crash before step 2 would leave empty views that the group's offsets
never fill again; this way, a crash between them only re-reads what the inbox already holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine

from outboxkit.base.errors import UsageError
from outboxkit.base.settings import Settings
from outboxkit.kafka.clients import forget_group_offsets, group_member_count

log = logging.getLogger(__name__)


class ReadModelContext(Protocol):
    """What a rebuild needs of the read model's service (a ServiceContext)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    def migrate(self) -> None: ...

    def unit_of_work(self) -> Any: ...


class Runnable(Protocol):
    def run(self) -> object: ...


P = TypeVar("P", bound=Runnable)


def rebuild_read_model(
    context: ReadModelContext,
    group_id: str,
    topics: list[str],
    clear: Callable[[Any], int],
    process: Callable[[], P],
    approve: Callable[[str], bool],
) -> P | None:
    """Rebuild; the process that applied the topics (run to their end, unless it was stopped
    first), or None when ``approve`` (asked before anything is deleted) said no. Raises UsageError
    while the group has members."""
    bootstrap = context.settings.kafka_bootstrap_servers
    members = group_member_count(bootstrap, group_id)
    if members:
        raise UsageError(
            f"{group_id} is running ({members} consumer(s) in group {group_id}): stop it before a rebuild"
        )
    if not approve(
        f"Delete every view in {context.engine.url.database} and rebuild them from {', '.join(topics)}?"
    ):
        return None
    context.migrate()
    forget_group_offsets(bootstrap, group_id)
    with context.unit_of_work() as uow:
        deleted = clear(uow)
    log.info(
        "%s: rebuild: %d view(s) deleted and the group's offsets forgotten; applying %s from the beginning",
        group_id,
        deleted,
        ", ".join(topics),
    )
    rebuilding = process()
    rebuilding.run()
    return rebuilding
