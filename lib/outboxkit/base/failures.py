"""What a failure says about the record, and therefore what the consumer does with it.

Three kinds, decided by :func:`classify`:

- **outage** -- a dependency did not answer (the database, the schema registry, the broker, an
  external API a handler calls). The record is fine: the consumer keeps it, pauses fetching and tries the
  same record again, with capped backoff, for as long as the outage lasts.
- **conflict** -- a lock wait timeout, a deadlock, two consumers racing on one aggregate. A later
  try usually succeeds, but a record that conflicts every time must not block its partition for
  ever: it gets a bounded number of tries, then goes to the dead-letter topic.
- **record** -- the record itself cannot be applied: it does not decode, its schema id is
  unknown, a handler refuses it, or the code has a bug. Retrying cannot help: dead-letter it now.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from confluent_kafka import KafkaError, KafkaException
from sqlalchemy.exc import DBAPIError, InterfaceError, TimeoutError as PoolTimeoutError

from outboxkit.base.errors import OutboxKitError


class DependencyUnavailableError(OutboxKitError):
    """A system the work needs did not answer; the record is fine and must be tried again."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail


class RetryableConflictError(OutboxKitError):
    """A race that a later try resolves (e.g. two consumers recording an aggregate's first version)."""


class RecordRejectedError(OutboxKitError):
    """Raised by a handler when the record can never be applied (it goes to the dead-letter topic)."""


class FailureKind(Enum):
    OUTAGE = "outage"
    CONFLICT = "conflict"
    RECORD = "record"


# MySQL/MariaDB error codes that mean "the server is not there": 2002/2003 cannot connect,
# 2006 server has gone away, 2013/2055 lost connection, 1040 too many connections, 1053 server
# shutdown in progress, 1927 connection killed, 4031 disconnected by the server.
DATABASE_UNAVAILABLE = frozenset({2002, 2003, 2006, 2013, 2055, 1040, 1053, 1927, 4031})
BROKER_UNAVAILABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._RESOLVE,
    }
)
# 1205 lock wait timeout, 1213 deadlock.
DATABASE_CONFLICT = frozenset({1205, 1213})


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    summary: str
    dependency: str | None = None  # for an outage: which dependency


def _driver_code(exc: DBAPIError) -> int | None:
    args = exc.orig.args if exc.orig is not None else ()
    return args[0] if args and isinstance(args[0], int) else None


def summarize(exc: BaseException) -> str:
    """One readable log line: the class and the driver's own message, without SQL dumps."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(cause).split())
    return f"{type(exc).__name__}: {text[:300]}"


def classify(exc: BaseException) -> Failure:
    summary = summarize(exc)
    if isinstance(exc, DependencyUnavailableError):
        return Failure(FailureKind.OUTAGE, exc.detail, exc.dependency)
    if isinstance(exc, DBAPIError):
        code = _driver_code(exc)
        if exc.connection_invalidated or code in DATABASE_UNAVAILABLE or isinstance(exc, InterfaceError):
            return Failure(FailureKind.OUTAGE, summary, "database")
        if code in DATABASE_CONFLICT:
            return Failure(FailureKind.CONFLICT, summary)
        return Failure(FailureKind.RECORD, summary)
    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and (error.retriable() or error.code() in BROKER_UNAVAILABLE):
            return Failure(FailureKind.OUTAGE, summary, "broker")
        return Failure(FailureKind.RECORD, summary)
    if isinstance(exc, PoolTimeoutError):
        return Failure(FailureKind.OUTAGE, summary, "database")
    if isinstance(exc, RetryableConflictError):
        return Failure(FailureKind.CONFLICT, summary)
    if isinstance(exc, ConnectionError | TimeoutError):
        return Failure(FailureKind.OUTAGE, summary, "network")
    return Failure(FailureKind.RECORD, summary)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``delay(n)`` is the wait after the n-th failed try."""

    initial_s: float = 0.1
    max_s: float = 5.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_s, self.initial_s * self.multiplier ** max(0, attempt - 1))
        # Half fixed, half random: never (almost) zero, so a dependency that is down is not
        # hammered, and instances that failed together do not retry in lockstep.
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """How conflicts are retried (bounded) and how outages are waited out (unbounded)."""

    max_conflict_attempts: int = 5
    conflict_backoff: Backoff = Backoff(initial_s=0.1, max_s=5.0)
    # Capped low: once the dependency is back, the held record goes on within ~2 s.
    outage_backoff: Backoff = Backoff(initial_s=0.2, max_s=2.0)

    def __post_init__(self) -> None:
        if self.max_conflict_attempts < 1:
            raise ValueError(f"a retry policy needs at least 1 attempt, not {self.max_conflict_attempts}")

    def retries_conflict(self, attempt: int) -> bool:
        return attempt < self.max_conflict_attempts
