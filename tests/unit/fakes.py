"""In-memory stand-ins for pure-logic unit tests (never used where a process boundary is tested)."""

from __future__ import annotations

from eventcore.serialization.schema_registry import IncompatibleSchemaError, UnknownSchemaIdError


class InMemorySchemaRegistry:
    """Registers schemas with increasing ids; refuses what ``refuse`` names, like a 409."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.compatibility: dict[str | None, str] = {}
        self.refuse = refuse or set()

    def register(self, subject: str, schema: str) -> int:
        if subject in self.refuse:
            raise IncompatibleSchemaError(subject, "refused by test")
        for schema_id, text in self.schemas.items():
            if text == schema:
                self.subjects.setdefault(subject, []).append(schema_id)
                return schema_id
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = schema
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id

    def set_compatibility(self, subject: str | None, level: str = "BACKWARD") -> None:
        self.compatibility[subject] = level

    def schema_by_id(self, schema_id: int) -> str:
        if schema_id not in self.schemas:
            raise UnknownSchemaIdError(schema_id)
        return self.schemas[schema_id]
