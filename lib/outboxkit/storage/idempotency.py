"""Retried requests: an ``Idempotency-Key`` stored in the transaction of what it created.

A client that may retry a request that creates something (a POST whose answer was lost) sends a
key with it. The key, a fingerprint of the request and the response are committed in the same
transaction as what the request created, so either both exist or neither does. A retry with the
same key and the same request gets the first response back and creates nothing; the same key with
another request is refused (:class:`KeyReusedError`). Two concurrent requests with one key: the
primary key lets one commit, and the other answers with what that one stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, select
from sqlalchemy.dialects.mysql import CHAR, DATETIME
from sqlalchemy.exc import IntegrityError

from outboxkit.base.clock import utc_now
from outboxkit.base.errors import InvalidValueError, OutboxKitError
from outboxkit.storage.db import SqlUnitOfWork, is_duplicate_key

MAX_KEY_LENGTH = 255


class InvalidIdempotencyKeyError(InvalidValueError):
    """The key is empty, too long or not printable ASCII."""


class KeyReusedError(OutboxKitError):
    """The key was used before with a different request."""


def idempotency_keys_table(metadata: MetaData) -> Table:
    """The table :class:`IdempotencyKeys` keeps its responses in, on ``metadata``."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("idempotency_key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", CHAR(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response", Text, nullable=False),
        Column("created_at", DATETIME(fsp=6), nullable=False),
    )


def valid_key(key: str) -> str:
    """``key`` if it can be an Idempotency-Key (1 to 255 printable ASCII characters, no spaces),
    else :class:`InvalidIdempotencyKeyError`."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " < char <= "~" for char in key):
        raise InvalidIdempotencyKeyError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces"
        )
    return key


def fingerprint(request: Mapping[str, Any]) -> str:
    """The same request gives the same fingerprint, whatever the order of its JSON fields."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False  # True: the answer to an earlier request with the same key


Remember = Callable[[SqlUnitOfWork, StoredResponse], None]


class IdempotencyKeys:
    """The responses given to each ``Idempotency-Key``, in the service's own database: a request
    that comes again gets the response the first one got, and the same key with another request
    is refused (:class:`KeyReusedError`)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def find(self, connection: Connection, key: str, request_fingerprint: str) -> StoredResponse | None:
        row = connection.execute(select(self.table).where(self.table.c.idempotency_key == key)).first()
        if row is None:
            return None
        if row.fingerprint != request_fingerprint:
            raise KeyReusedError(f"Idempotency-Key {key!r} was already used with a different request")
        return StoredResponse(row.status_code, json.loads(row.response), replayed=True)

    def handle_once(
        self,
        uow_factory: Callable[[], SqlUnitOfWork],
        key: str,
        request: Mapping[str, Any],
        create: Callable[[Remember], StoredResponse],
    ) -> StoredResponse:
        """The stored response to ``key``, or ``create``'s, which must call the ``Remember`` it is
        given inside the transaction that creates what the request asks for."""
        request_fingerprint = fingerprint(request)
        with uow_factory() as uow:
            stored = self.find(uow.connection, key, request_fingerprint)
        if stored is not None:
            return stored

        def remember(uow: SqlUnitOfWork, response: StoredResponse) -> None:
            uow.connection.execute(
                self.table.insert(),
                {
                    "idempotency_key": key,
                    "fingerprint": request_fingerprint,
                    "status_code": response.status_code,
                    "response": json.dumps(response.body),
                    "created_at": utc_now(),
                },
            )

        try:
            return create(remember)
        except IntegrityError as exc:
            if not is_duplicate_key(exc):
                raise
        # A concurrent request with the same key committed first; this one rolled back.
        with uow_factory() as uow:
            stored = self.find(uow.connection, key, request_fingerprint)
        if stored is None:
            raise RuntimeError(f"Idempotency-Key {key!r} was taken, yet no response is stored")
        return stored
