"""Avro contracts: the schema catalogue in ``schemas/avro`` and the registry wire format.

Wire format (Confluent-compatible): magic byte 0, the schema id as a 4-byte big-endian int,
then the Avro binary body. Producers register their writer schema under the subject
``<topic>-<record full name>`` (several event types share one aggregate topic) with a BACKWARD
rule; consumers decode with the writer schema fetched by id *resolved against their own
reader schema*, so a compatible writer change (a new optional field) never breaks an old
consumer (partial rollouts).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.types import Schema as ParsedSchema

from outboxkit.base.errors import InvalidValueError, OutboxKitError
from outboxkit.serialization.schema_registry import SchemaRegistry

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")


class UndecodableRecordError(OutboxKitError, ValueError):
    """The bytes are not a registry-framed Avro record this consumer can read."""


class InvalidEventError(InvalidValueError):
    """A record does not match its Avro schema (a producer bug, caught before any write)."""


def subject_name(topic: str, record_fullname: str) -> str:
    """TopicRecordNameStrategy: one subject per event type per topic."""
    return f"{topic}-{record_fullname}"


@dataclass(frozen=True)
class EventSchema:
    """One event type's Avro schema, as this process knows it."""

    fullname: str
    aggregate_type: str
    text: str
    parsed: ParsedSchema

    @property
    def event_type(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]

    @classmethod
    def from_text(cls, text: str, aggregate_type: str) -> EventSchema:
        raw = json.loads(text)
        canonical = json.dumps(raw, separators=(",", ":"))
        fullname = raw["name"] if "." in raw["name"] else f"{raw.get('namespace', '')}.{raw['name']}"
        parsed = fastavro.parse_schema(raw)
        return cls(
            fullname=fullname.lstrip("."), aggregate_type=aggregate_type, text=canonical, parsed=parsed
        )


class SchemaCatalog:
    """The event schemas in ``schemas/avro/<aggregate type>/<EventType>.avsc``."""

    def __init__(self, schemas: list[EventSchema]) -> None:
        self._by_type = {s.event_type: s for s in schemas}
        self._by_fullname = {s.fullname: s for s in schemas}

    @classmethod
    def load(cls, *roots: Path) -> SchemaCatalog:
        """The schemas under each root (``<root>/<aggregate type>/<EventType>.avsc``), every
        event type once."""
        schemas: dict[str, EventSchema] = {}
        for root in dict.fromkeys(roots):
            if not root.is_dir():
                raise FileNotFoundError(f"schema directory {root} does not exist")
            found = [
                EventSchema.from_text(path.read_text(), aggregate_type=path.parent.name)
                for path in sorted(root.glob("*/*.avsc"))
            ]
            if not found:
                raise FileNotFoundError(f"no *.avsc schemas under {root}/<aggregate type>/")
            schemas.update((schema.event_type, schema) for schema in found)
        return cls(list(schemas.values()))

    def for_event_type(self, event_type: str) -> EventSchema:
        try:
            return self._by_type[event_type]
        except KeyError:
            raise KeyError(
                f"no schema for event type {event_type!r}; known: {sorted(self._by_type)}"
            ) from None

    def by_fullname(self, fullname: str) -> EventSchema | None:
        return self._by_fullname.get(fullname)

    def __iter__(self) -> Iterator[EventSchema]:
        return iter(self._by_type.values())


class AvroEventSerializer:
    """Encodes events in the registry wire format, registering each writer schema once."""

    def __init__(self, registry: SchemaRegistry, compatibility: str = "BACKWARD") -> None:
        self._registry = registry
        self._compatibility = compatibility
        self._ids: dict[tuple[str, str], int] = {}

    def schema_id(self, topic: str, schema: EventSchema) -> int:
        key = (topic, schema.text)
        if key not in self._ids:
            subject = subject_name(topic, schema.fullname)
            schema_id = self._registry.register(subject, schema.text)
            # The rule is pinned per subject so a global change cannot loosen it.
            self._registry.set_compatibility(subject, self._compatibility)
            self._ids[key] = schema_id
        return self._ids[key]

    def serialize(self, topic: str, schema: EventSchema, record: Mapping[str, Any]) -> bytes:
        try:
            body = io.BytesIO()
            fastavro.schemaless_writer(body, schema.parsed, dict(record))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidEventError(
                f"{schema.event_type} record does not match its schema {schema.fullname}: {exc}"
            ) from exc
        # Registration after validation: a malformed record never reaches the registry.
        schema_id = self.schema_id(topic, schema)
        return HEADER.pack(MAGIC_BYTE, schema_id) + body.getvalue()


@dataclass(frozen=True)
class DecodedEvent:
    schema_id: int
    fullname: str
    value: dict[str, Any]

    @property
    def event_type(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]


class AvroEventDeserializer:
    """Decodes wire-format bytes with the writer schema, resolved to this consumer's reader schema."""

    def __init__(self, registry: SchemaRegistry, catalog: SchemaCatalog | None) -> None:
        self._registry = registry
        self._catalog = catalog
        self._writers: dict[int, tuple[str, ParsedSchema]] = {}

    def _writer(self, schema_id: int) -> tuple[str, ParsedSchema]:
        if schema_id not in self._writers:
            raw = json.loads(self._registry.schema_by_id(schema_id))
            name = raw["name"] if "." in raw["name"] else f"{raw.get('namespace', '')}.{raw['name']}"
            self._writers[schema_id] = (name.lstrip("."), fastavro.parse_schema(raw))
        return self._writers[schema_id]

    @staticmethod
    def schema_id_of(data: bytes | None) -> int:
        if data is None or len(data) < HEADER.size:
            raise UndecodableRecordError(
                f"record value of {0 if data is None else len(data)} bytes is too short for "
                "the registry wire format (magic byte + 4-byte schema id)"
            )
        magic, schema_id = HEADER.unpack_from(data)
        assert isinstance(schema_id, int)
        if magic != MAGIC_BYTE:
            raise UndecodableRecordError(
                f"record value starts with byte {magic:#04x}, not the wire-format magic byte 0x00"
            )
        return schema_id

    def deserialize(self, data: bytes | None) -> DecodedEvent:
        schema_id = self.schema_id_of(data)
        assert data is not None
        fullname, writer = self._writer(schema_id)
        reader = self._catalog.by_fullname(fullname) if self._catalog else None
        try:
            value = fastavro.schemaless_reader(
                io.BytesIO(data[HEADER.size :]), writer, reader.parsed if reader else None
            )
        except Exception as exc:  # fastavro raises many types for corrupt bodies
            raise UndecodableRecordError(
                f"Avro body of {fullname} (schema id {schema_id}) cannot be decoded: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(value, dict):
            raise UndecodableRecordError(f"{fullname} decoded to {type(value).__name__}, not a record")
        return DecodedEvent(schema_id=schema_id, fullname=fullname, value=value)
