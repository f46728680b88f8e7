"""Which failures are worth retrying, and how long to wait between tries.

Transient: the database connection dropped, a deadlock, a lock wait timeout, the registry or a
downstream system briefly unreachable. They succeed on a later try, so they are retried with
exponential backoff and full jitter, a bounded number of times. Everything else is permanent
(undecodable bytes, an unknown schema id, a handler's own refusal, a bug): retrying cannot
help, so the record goes to the dead-letter topic at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from sqlalchemy.exc import DBAPIError, OperationalError

from eventcore.schema_registry import RegistryUnavailableError

# MySQL/MariaDB error codes: 1205 lock wait timeout, 1213 deadlock, 2002/2003 cannot connect,
# 2006 server has gone away, 2013 lost connection during query, 1040 too many connections.
TRANSIENT_DB_ERRORS = frozenset({1205, 1213, 2002, 2003, 2006, 2013, 1040})


class TransientError(Exception):
    """Raised by a handler when a later try may succeed (e.g. a gateway timed out)."""


class PermanentError(Exception):
    """Raised by a handler when the event can never be applied (send it to the DLQ)."""


class FailureKind(Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def classify(exc: BaseException) -> FailureKind:
    if isinstance(exc, TransientError | RegistryUnavailableError | ConnectionError | TimeoutError):
        return FailureKind.TRANSIENT
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return FailureKind.TRANSIENT
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if isinstance(exc, OperationalError) and code in TRANSIENT_DB_ERRORS:
            return FailureKind.TRANSIENT
        if code in TRANSIENT_DB_ERRORS:
            return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def summarize(exc: BaseException) -> str:
    """One readable log line: the class and the driver's own message, without SQL dumps."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(cause).split())
    return f"{type(exc).__name__}: {text[:300]}"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_delay_s: float = 0.1
    max_delay_s: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"a retry policy needs at least 1 attempt, not {self.max_attempts}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter backoff before try ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1))
        return (rng or random).uniform(0, ceiling)

    def should_retry(self, kind: FailureKind, attempt: int) -> bool:
        return kind is FailureKind.TRANSIENT and attempt < self.max_attempts
