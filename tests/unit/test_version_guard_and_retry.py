import random

import pymysql
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from eventcore.avro import UndecodableRecordError
from eventcore.consumer import ConsumerOptions
from eventcore.db import make_engine
from eventcore.retry import FailureKind, PermanentError, RetryPolicy, TransientError, classify, summarize
from eventcore.schema_registry import RegistryUnavailableError, UnknownSchemaIdError
from eventcore.version_guard import is_newer


@pytest.mark.parametrize(
    ("last", "incoming", "expected"),
    [(None, 1, True), (1, 2, True), (1, 5, True), (2, 2, False), (3, 2, False)],
)
def test_only_strictly_newer_versions_apply(last, incoming, expected):
    assert is_newer(last, incoming) is expected


def db_error(kind, code):
    return kind("INSERT ...", {}, pymysql.err.OperationalError(code, "msg"))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (db_error(OperationalError, 1213), FailureKind.TRANSIENT),  # deadlock
        (db_error(OperationalError, 1205), FailureKind.TRANSIENT),  # lock wait timeout
        (db_error(OperationalError, 2013), FailureKind.TRANSIENT),  # lost connection
        (db_error(OperationalError, 2006), FailureKind.TRANSIENT),  # server gone away
        (RegistryUnavailableError("down"), FailureKind.TRANSIENT),
        (TransientError("gateway timeout"), FailureKind.TRANSIENT),
        (db_error(IntegrityError, 1452), FailureKind.PERMANENT),  # foreign key
        (db_error(OperationalError, 1054), FailureKind.PERMANENT),  # unknown column
        (UndecodableRecordError("bad"), FailureKind.PERMANENT),
        (UnknownSchemaIdError(7), FailureKind.PERMANENT),
        (PermanentError("no"), FailureKind.PERMANENT),
        (KeyError("bug"), FailureKind.PERMANENT),
    ],
)
def test_failures_are_classified(exc, kind):
    assert classify(exc) is kind


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    policy = RetryPolicy(max_attempts=5, initial_delay_s=0.1, max_delay_s=1.0, multiplier=2.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range


def test_retries_are_bounded_and_only_for_transient_failures():
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(FailureKind.TRANSIENT, 1)
    assert policy.should_retry(FailureKind.TRANSIENT, 2)
    assert not policy.should_retry(FailureKind.TRANSIENT, 3)
    assert not policy.should_retry(FailureKind.PERMANENT, 1)


def test_a_policy_needs_at_least_one_attempt():
    with pytest.raises(ValueError, match="at least 1 attempt"):
        RetryPolicy(max_attempts=0)


def test_the_retry_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONSUMER_RETRY_MAX_ATTEMPTS", "7")
    assert ConsumerOptions.from_env().retry.max_attempts == 7


def test_a_failure_summary_is_one_line_without_the_sql():
    exc = OperationalError("SELECT *\nFROM products\nFOR UPDATE", {"sku": "A"},
                           pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"))
    line = summarize(exc)
    assert line == "OperationalError: (1205, 'Lock wait timeout exceeded')"
    assert summarize(KeyError("sku")) == "KeyError: 'sku'"


def test_a_lock_wait_under_a_second_is_refused():
    with pytest.raises(ValueError, match="at least 1 s"):
        make_engine("mysql+pymysql://u:p@127.0.0.1:1/db", lock_wait_timeout_s=0)
