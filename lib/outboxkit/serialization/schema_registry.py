"""Adapter for the schema registry: confluent-kafka's client (``confluent_kafka.schema_registry``)
against any Confluent-compatible API (Apicurio's ``/apis/ccompat/v7`` here), with outboxkit's
errors around it.

The registry is the contract checker: a schema is registered under a subject with a BACKWARD
compatibility rule, so a producer cannot ship a change that existing consumers could not read.
The client caches both directions (ids never change), so after a service's first records the
registry is out of its hot path; the Avro framing itself is :mod:`outboxkit.serialization.avro`'s
(measured faster than confluent-kafka's serializers: docs/benchmarks.md, "Avro serde").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient as ConfluentRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError as ConfluentRegistryError

try:  # the HTTP library the client itself uses (httpx2 where installed, else httpx)
    from confluent_kafka.schema_registry.common._httpx_compat import httpx
except ImportError:  # pragma: no cover (an older confluent-kafka)
    import httpx  # type: ignore[no-redef]

from outboxkit.base.errors import OutboxKitError
from outboxkit.base.failures import DependencyUnavailableError

log = logging.getLogger(__name__)

DEFAULT_COMPATIBILITY = "BACKWARD"


class SchemaRegistryError(OutboxKitError, RuntimeError):
    """The registry refused a request or could not be reached."""


class RegistryUnavailableError(DependencyUnavailableError, SchemaRegistryError):
    """The registry did not answer (or answered 5xx): it is down, starting, or the URL is wrong."""

    def __init__(self, detail: str) -> None:
        DependencyUnavailableError.__init__(self, "schema registry", detail)


class IncompatibleSchemaError(SchemaRegistryError):
    """A new schema version breaks the subject's compatibility rule."""

    def __init__(self, subject: str, detail: str) -> None:
        super().__init__(
            f"schema for subject {subject!r} was refused by the registry as incompatible "
            f"with the {DEFAULT_COMPATIBILITY} rule: {detail}"
        )
        self.subject = subject
        self.detail = detail


class UnknownSchemaIdError(SchemaRegistryError):
    """A record names a schema id the registry does not know."""

    def __init__(self, schema_id: int) -> None:
        super().__init__(f"schema id {schema_id} is not known to the registry")
        self.schema_id = schema_id


class SchemaRegistry(Protocol):
    """What the Avro serde needs of a registry (:class:`SchemaRegistryClient`; a fake in unit tests)."""

    def register(self, subject: str, schema: str) -> int: ...

    def set_compatibility(self, subject: str | None, level: str = DEFAULT_COMPATIBILITY) -> None: ...

    def schema_by_id(self, schema_id: int) -> str: ...


T = TypeVar("T")


class SchemaRegistryClient:
    """Registers and fetches Avro schemas, through confluent-kafka's client, which caches both."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        # One retry: a registry that stays down is an outage the caller waits out (the consumer
        # holds its record, a command says "unavailable"), not something to spin on here.
        self._client = ConfluentRegistryClient({"url": self.url, "timeout": timeout_s, "max.retries": 1})

    def _call(
        self, what: str, request: Callable[[], T], refusals: Mapping[int, Callable[[str], Exception]] = {}
    ) -> T:
        """``request()``, its failures in outboxkit's terms: an outage, a refusal the caller names by
        HTTP status (``refusals``), or a plain SchemaRegistryError."""
        try:
            return request()
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(f"{self.url} is unreachable ({type(exc).__name__})") from exc
        except ConfluentRegistryError as exc:
            status, detail = exc.http_status_code, exc.error_message
            if status >= 500 or status < 0:
                raise RegistryUnavailableError(f"{self.url} answered HTTP {status}: {detail}") from exc
            if status in refusals:
                raise refusals[status](detail) from exc
            raise SchemaRegistryError(f"{what} failed with HTTP {status}: {detail}") from exc

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        schema_id = self._call(
            f"registering the schema for {subject!r}",
            lambda: self._client.register_schema(subject, Schema(schema, "AVRO")),
            {
                409: lambda detail: IncompatibleSchemaError(subject, detail),
                422: lambda detail: SchemaRegistryError(
                    f"registry rejected the schema for {subject!r} as invalid: {detail}"
                ),
            },
        )
        log.debug("schema for subject %s is id %d", subject, schema_id)
        return schema_id

    def set_compatibility(self, subject: str | None, level: str = DEFAULT_COMPATIBILITY) -> None:
        """Set the compatibility rule of one subject, or the global default when subject is None."""
        self._call(
            f"setting {level} compatibility on {subject or 'the global config'}",
            lambda: self._client.set_compatibility(subject_name=subject, level=level),
        )

    def schema_by_id(self, schema_id: int) -> str:
        found = self._call(
            f"fetching schema id {schema_id}",
            lambda: self._client.get_schema(schema_id),
            {404: lambda _detail: UnknownSchemaIdError(schema_id)},
        )
        if found.schema_str is None:
            raise SchemaRegistryError(f"schema id {schema_id} came back without a schema")
        return found.schema_str
