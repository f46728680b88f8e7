"""What a failure says about the record (pure logic: no database, no broker)."""

import random

import pymysql
import pytest
from confluent_kafka import KafkaError, KafkaException
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from outboxkit.base.failures import (
    Backoff,
    DependencyUnavailableError,
    FailureKind,
    RecordRejectedError,
    RetryableConflictError,
    RetryPolicy,
    classify,
    summarize,
)
from outboxkit.consuming.version_guard import is_newer
from outboxkit.serialization.avro import UndecodableRecordError
from outboxkit.serialization.schema_registry import RegistryUnavailableError, UnknownSchemaIdError
from outboxkit.storage.db import make_engine


@pytest.mark.parametrize(
    ("last", "incoming", "expected"),
    [(None, 1, True), (1, 2, True), (1, 5, True), (2, 2, False), (3, 2, False)],
)
def test_only_strictly_newer_versions_apply(last, incoming, expected):
    assert is_newer(last, incoming) is expected


def db_error(kind, code):
    return kind("INSERT ...", {}, pymysql.err.OperationalError(code, "msg"))


@pytest.mark.parametrize(
    ("exc", "kind", "dependency"),
    [
        # The dependency is down: the record is fine, it waits.
        (db_error(OperationalError, 2003), FailureKind.OUTAGE, "database"),  # cannot connect
        (db_error(OperationalError, 2013), FailureKind.OUTAGE, "database"),  # lost connection
        (db_error(OperationalError, 2006), FailureKind.OUTAGE, "database"),  # server gone away
        (db_error(OperationalError, 1053), FailureKind.OUTAGE, "database"),  # server shutting down
        (InterfaceError("SELECT 1", {}, pymysql.err.InterfaceError(0, "")), FailureKind.OUTAGE, "database"),
        (RegistryUnavailableError("connection refused"), FailureKind.OUTAGE, "schema registry"),
        (DependencyUnavailableError("payment gateway", "timed out"), FailureKind.OUTAGE, "payment gateway"),
        (KafkaException(KafkaError(KafkaError._TRANSPORT)), FailureKind.OUTAGE, "broker"),
        (KafkaException(KafkaError(KafkaError._TIMED_OUT)), FailureKind.OUTAGE, "broker"),
        # Contention: a bounded number of tries.
        (db_error(OperationalError, 1213), FailureKind.CONFLICT, None),  # deadlock
        (db_error(OperationalError, 1205), FailureKind.CONFLICT, None),  # lock wait timeout
        (RetryableConflictError("first version race"), FailureKind.CONFLICT, None),
        # The record itself: dead-letter it.
        (db_error(IntegrityError, 1452), FailureKind.RECORD, None),  # foreign key
        (db_error(OperationalError, 1054), FailureKind.RECORD, None),  # unknown column
        (db_error(OperationalError, 1644), FailureKind.RECORD, None),  # a trigger's SIGNAL
        (UndecodableRecordError("bad"), FailureKind.RECORD, None),
        (UnknownSchemaIdError(7), FailureKind.RECORD, None),
        (RecordRejectedError("no"), FailureKind.RECORD, None),
        (KeyError("bug"), FailureKind.RECORD, None),
    ],
)
def test_failures_are_classified_by_what_they_say_about_the_record(exc, kind, dependency):
    failure = classify(exc)
    assert (failure.kind, failure.dependency) == (kind, dependency)


def test_a_registry_answering_5xx_is_unavailable_and_a_schema_error_too():
    # RegistryUnavailableError is both: callers that catch registry errors still catch it.
    from outboxkit.serialization.schema_registry import SchemaRegistryError

    assert isinstance(RegistryUnavailableError("x"), SchemaRegistryError)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    backoff = Backoff(initial_s=0.1, max_s=1.0, multiplier=2.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)  # never (almost) zero
        assert max(delays) > ceiling * 0.9 and min(delays) < ceiling * 0.6  # jitter spreads them


def test_conflicts_are_retried_a_bounded_number_of_times():
    policy = RetryPolicy(max_conflict_attempts=3)
    assert policy.retries_conflict(1)
    assert policy.retries_conflict(2)
    assert not policy.retries_conflict(3)


def test_outages_are_waited_out_with_a_low_cap():
    policy = RetryPolicy()
    assert max(policy.outage_backoff.delay(n) for n in range(1, 50)) <= 2.0


def test_a_policy_needs_at_least_one_attempt():
    with pytest.raises(ValueError, match="at least 1 attempt"):
        RetryPolicy(max_conflict_attempts=0)


def test_a_failure_summary_is_one_line_without_the_sql():
    exc = OperationalError(
        "SELECT *\nFROM products\nFOR UPDATE",
        {"sku": "A"},
        pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
    )
    line = summarize(exc)
    assert line == "OperationalError: (1205, 'Lock wait timeout exceeded')"
    assert summarize(KeyError("sku")) == "KeyError: 'sku'"


def test_a_lock_wait_under_a_second_is_refused():
    with pytest.raises(ValueError, match="at least 1 s"):
        make_engine("mysql+pymysql://u:p@127.0.0.1:1/db", lock_wait_timeout_s=0)
