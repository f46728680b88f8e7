"""Adapter for the schema registry's Confluent-compatible REST API (Apicurio ``/apis/ccompat/v7``).

The registry is the contract checker: a schema is registered under a subject with a BACKWARD
compatibility rule, so a producer cannot ship a change that existing consumers could not read.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

import requests

from eventcore.base.errors import EventcoreError
from eventcore.base.failures import DependencyUnavailableError

log = logging.getLogger(__name__)

AVRO_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
DEFAULT_COMPATIBILITY = "BACKWARD"


class SchemaRegistryError(EventcoreError, RuntimeError):
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


class SchemaRegistryClient:
    """Registers and fetches Avro schemas; caches both directions because ids never change."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers["Content-Type"] = AVRO_CONTENT_TYPE
        self._ids_by_subject_schema: dict[tuple[str, str], int] = {}
        self._schemas_by_id: dict[int, str] = {}
        self._lock = threading.Lock()

    def _request(self, method: str, path: str, body: Any | None = None) -> requests.Response:
        try:
            response = self._session.request(
                method,
                f"{self.url}{path}",
                data=None if body is None else json.dumps(body),
                timeout=self._timeout_s,
            )
        except requests.RequestException as exc:
            raise RegistryUnavailableError(f"{self.url} is unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise RegistryUnavailableError(
                f"{self.url} answered HTTP {response.status_code}: {self._error_text(response)}"
            )
        return response

    @staticmethod
    def _error_text(response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:500]
        if isinstance(body, dict):
            return str(body.get("message") or body.get("detail") or body)[:500]
        return str(body)[:500]

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        key = (subject, schema)
        cached = self._ids_by_subject_schema.get(key)
        if cached is not None:
            return cached
        response = self._request(
            "POST", f"/subjects/{subject}/versions", {"schema": schema, "schemaType": "AVRO"}
        )
        if response.status_code == 409:
            raise IncompatibleSchemaError(subject, self._error_text(response))
        if response.status_code == 422:
            raise SchemaRegistryError(
                f"registry rejected the schema for {subject!r} as invalid: {self._error_text(response)}"
            )
        if response.status_code >= 300:
            raise SchemaRegistryError(
                f"registering schema for {subject!r} failed with HTTP {response.status_code}: "
                f"{self._error_text(response)}"
            )
        schema_id = int(response.json()["id"])
        with self._lock:
            self._ids_by_subject_schema[key] = schema_id
            self._schemas_by_id[schema_id] = schema
        log.info("registered schema for subject %s as id %d", subject, schema_id)
        return schema_id

    def set_compatibility(self, subject: str | None, level: str = DEFAULT_COMPATIBILITY) -> None:
        """Set the compatibility rule of one subject, or the global default when subject is None."""
        path = "/config" if subject is None else f"/config/{subject}"
        response = self._request("PUT", path, {"compatibility": level})
        if response.status_code >= 300:
            raise SchemaRegistryError(
                f"setting {level} compatibility on {subject or 'the global config'} failed "
                f"with HTTP {response.status_code}: {self._error_text(response)}"
            )

    def schema_by_id(self, schema_id: int) -> str:
        cached = self._schemas_by_id.get(schema_id)
        if cached is not None:
            return cached
        response = self._request("GET", f"/schemas/ids/{schema_id}")
        if response.status_code == 404:
            raise UnknownSchemaIdError(schema_id)
        if response.status_code >= 300:
            raise SchemaRegistryError(
                f"fetching schema id {schema_id} failed with HTTP {response.status_code}: "
                f"{self._error_text(response)}"
            )
        schema = str(response.json()["schema"])
        with self._lock:
            self._schemas_by_id[schema_id] = schema
        return schema
