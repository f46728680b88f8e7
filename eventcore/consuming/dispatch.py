"""Dispatch: a consumed record to the handler of its event class, and what a refused transition
means, decided once: a late, repeated or racing message finds its guard closed and changes
nothing (problem 6); it is logged and counted, not failed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from eventcore.base.messages import ConsumedEvent
from eventcore.domain.events import Envelope, Event
from eventcore.domain.state_machine import TransitionRefused
from eventcore.domain.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


TypedHandler = Callable[[UnitOfWork, Any], None]
RecordHandler = Callable[[UnitOfWork, ConsumedEvent], None]


@dataclasses.dataclass(frozen=True)
class WithEnvelope:
    """A handler that is also given the event's :class:`Envelope`: ``handler(uow, event, envelope)``."""

    handler: Callable[[UnitOfWork, Any, Envelope], None]

    def __call__(self, uow: UnitOfWork, event: Any) -> None:
        raise TypeError("a WithEnvelope handler is called by EventRoutes, with the envelope")


class EventRoutes:
    """Event class -> handler. What a refused transition means is decided here, once: a late,
    repeated or racing message finds its guard closed and changes nothing (problem 6)."""

    def __init__(self, routes: Mapping[type[Event], TypedHandler], service: str) -> None:
        self._routes = dict(routes)
        self._service = service
        self.refused = 0
        self.on_refused: Callable[[], None] = lambda: None  # e.g. the consumer's counter

    def record_handlers(self) -> dict[str, RecordHandler]:
        """The handlers by event type name, as the record applier calls them."""
        return {cls.event_type(): self._record_handler(cls, handler) for cls, handler in self._routes.items()}

    def _record_handler(self, cls: type[Event], handler: TypedHandler) -> RecordHandler:
        def handle(uow: UnitOfWork, record: ConsumedEvent) -> None:
            event = cls.from_record(record.value)
            try:
                if isinstance(handler, WithEnvelope):
                    handler.handler(uow, event, Envelope.of(record))
                else:
                    handler(uow, event)
            except TransitionRefused as refused:
                self.refused += 1
                self.on_refused()
                log.info(
                    "%s %s: %s ignored (%s)", self._service, event.aggregate_id, cls.event_type(), refused
                )

        return handle
