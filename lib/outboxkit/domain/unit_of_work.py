"""The unit of work: what a handler is given to change state and emit events in one transaction.

A service's handlers are written against this interface (its service declares the
repositories it carries, cosmicpython's way: ``uow.steps.load(saga_id)``), so the same
handler runs in the SQL transaction of :class:`outboxkit.storage.db.SqlUnitOfWork` in
production and in :class:`outboxkit.testing.InMemoryUnitOfWork` in its unit tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from outboxkit.base.messages import OutboxEvent
from outboxkit.domain.events import Event


class UnitOfWork(ABC):
    """One transaction: ``with uow: ...`` commits what was changed and emitted on leaving the
    block, and nothing of it when the block raises.

    ``batch`` is what the transaction applies (the consumer sets it: the typed events of a
    fetch's records about to be handled, or of one record), for repositories that read every row
    the batch needs at once.
    """

    batch: Sequence[Event] = ()

    @property
    def batch_keys(self) -> list[str]:
        """The aggregate ids (the records' keys) of the transaction's batch, each once."""
        return list(dict.fromkeys(event.aggregate_id for event in self.batch))

    @abstractmethod
    def emit(self, event: OutboxEvent) -> None:
        """Send ``event`` if and when the transaction commits (an outbox row)."""

    @abstractmethod
    def __enter__(self) -> Self: ...

    @abstractmethod
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
