"""Dispatch: a consumed record to the handler of its event class, and what a refused transition
means, decided once: a late, repeated or racing message finds its guard closed and changes
nothing; it is logged and counted, not failed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from outboxkit.base.messages import ConsumedEvent
from outboxkit.domain.events import Envelope, Event
from outboxkit.domain.state_machine import TransitionRefused
from outboxkit.domain.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


U = TypeVar("U", bound=UnitOfWork)
# A handler: a plain function over a service's unit of work ``U`` and one typed event.
TypedHandler = Callable[[U, Any], None]


@dataclasses.dataclass(frozen=True)
class WithEnvelope(Generic[U]):
    """A handler that is also given the event's :class:`Envelope`: ``handler(uow, event, envelope)``."""

    handler: Callable[[U, Any, Envelope], None]

    def __call__(self, uow: U, event: Any) -> None:
        raise TypeError("a WithEnvelope handler is called by EventRoutes, with the envelope")


class EventRoutes(Generic[U]):
    """Event class -> handler, for one consumer group: which event types it handles, the typed
    event of a consumed record, and the call of its handler, where a refused transition is
    decided once: a late, repeated or racing message finds its guard closed and changes nothing;
    it is logged and counted (``on_refused``), and the transaction goes on."""

    def __init__(self, routes: Mapping[type[Event], TypedHandler[U]], service: str) -> None:
        self._classes = {cls.event_type(): cls for cls in routes}
        self._handlers = {cls.event_type(): handler for cls, handler in routes.items()}
        self._service = service
        self.refused = 0
        self.on_refused: Callable[[], None] = lambda: None  # e.g. the consumer's counter

    @property
    def event_types(self) -> list[str]:
        return sorted(self._handlers)

    def handles(self, event_type: str) -> bool:
        return event_type in self._handlers

    def typed(self, record: ConsumedEvent) -> Event:
        """The event of a consumed record, as its handler is given it."""
        return self._classes[record.event_type].from_record(record.value)

    def handle(self, uow: U, record: ConsumedEvent, event: Event) -> None:
        """Run the record's handler on its typed ``event``."""
        handler = self._handlers[record.event_type]
        try:
            if isinstance(handler, WithEnvelope):
                handler.handler(uow, event, Envelope.of(record))
            else:
                handler(uow, event)
        except TransitionRefused as refused:
            self.refused += 1
            self.on_refused()
            log.info("%s %s: %s ignored (%s)", self._service, event.aggregate_id, record.event_type, refused)
