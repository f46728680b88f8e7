"""Typed events: one class per event type, turned into and built from its Avro record here only.

A service declares its events as frozen dataclasses whose field names are the Avro record's
field names in snake_case (``aggregate_id`` is ``aggregateId``); a nested record is a dataclass too,
and an array of them a ``tuple[Line, ...]``. The envelope fields every record carries
(``eventId``, ``aggregateVersion``, ``occurredAt``) are the outbox's business, not the event's
(:class:`Envelope` holds them for a handler that records them). The class name is the event type,
and the consumer's dispatch (:mod:`outboxkit.consuming.dispatch`) sends a consumed record to the
handler of its class, so an event type's name is written once: in its schema file and its class.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.topics import aggregate_type_of

ENVELOPE_FIELDS = frozenset({"eventId", "aggregateVersion", "occurredAt"})

E = TypeVar("E", bound="Event")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _to_record(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {camel(f.name): _to_record(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_record(item) for item in value]
    return value


@functools.cache
def _fields_of(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(field, Avro field, type) of each field a dataclass is built with; resolved once per class
    (``get_type_hints`` costs more than decoding the record)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, camel(f.name), hints[f.name]) for f in dataclasses.fields(cls) if f.init)


def _from_record(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return annotation(
            **{name: _from_record(hint, value[key]) for name, key, hint in _fields_of(annotation)}
        )
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        (item_type, *_rest) = typing.get_args(annotation)
        return tuple(_from_record(item_type, item) for item in value)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _from_record(inner[0], value) if len(inner) == 1 else value
    return value


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every typed event. Subclasses set ``aggregate_type`` (the topic's name before
    ``.events``) and ``key_field`` (the field holding the aggregate id, the Kafka record key)."""

    aggregate_type: ClassVar[str]
    key_field: ClassVar[str]

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))

    def to_payload(self) -> dict[str, Any]:
        """The Avro record's fields (without the envelope the outbox adds)."""
        return _to_record(self)  # type: ignore[no-any-return]

    @classmethod
    def from_record(cls: type[E], value: Mapping[str, Any]) -> E:
        """The event of a decoded Avro record; fields the class does not know are left out (a
        newer writer may add fields with defaults)."""
        return _from_record(cls, value)  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Envelope:
    """What the outbox added to an event: a projection records it (a domain handler needs not)."""

    event_id: str
    aggregate_type: str
    aggregate_version: int
    occurred_at: datetime | None

    @classmethod
    def of(cls, record: ConsumedEvent) -> Envelope:
        occurred = record.value.get("occurredAt")
        return cls(
            record.event_id,
            aggregate_type_of(record.topic),
            record.aggregate_version,
            occurred.astimezone(UTC).replace(tzinfo=None) if occurred else None,
        )
