"""Settings are validated in one place; health reports outages once per change (pure logic)."""

from __future__ import annotations

import logging

import pytest

from devstack import drills
from outboxkit.base.settings import Settings, SettingsError
from outboxkit.consuming.apply_hooks import apply_hooks_from
from outboxkit.consuming.health import Health
from outboxkit.kafka.clients import RepeatSuppressingFilter
from outboxkit.kafka.partitioning import murmur2, partition_for
from services.order.settings import OrderSettings
from services.payment.settings import PaymentSettings


def settings(**values: str) -> Settings:
    return Settings(dict(values))


def test_defaults_apply_when_nothing_is_set():
    empty = settings()
    assert empty.db_port == 3307
    assert empty.consumer_batch_size == 100
    assert empty.health_port(9102) == (9102, False)
    assert (empty.inbox_retention_days, empty.outbox_retention_days, empty.prune_every_s) == (7.0, 3.0, 60.0)
    assert OrderSettings.read(empty) == OrderSettings(60.0, "choreographed", 30.0, 600.0)
    assert PaymentSettings.read(empty).decline_rate == 0.0


@pytest.mark.parametrize(
    ("values", "read", "message"),
    [
        ({"DB_PORT": "abc"}, lambda s: s.db_port, "DB_PORT='abc' is not an integer"),
        ({"DB_PORT": "0"}, lambda s: s.db_port, "it must be between 1 and 65535"),
        ({"ORDER_SAGA_TIMEOUT_S": "nan"}, OrderSettings.read, "out of range"),
        ({"ORDER_SAGA_TIMEOUT_S": "-3"}, OrderSettings.read, "it must be more than 0"),
        ({"ORDER_SAGA_FLOW": "sideways"}, OrderSettings.read, "is not choreographed or orchestrated"),
        ({"PAYMENT_DECLINE_RATE": "1.5"}, PaymentSettings.read, "at least 0 and at most 1"),
        ({"CONSUMER_CRASH_AFTER_COMMITS": "0"}, drills.from_settings, "at least 1"),
        ({"OUTBOXKIT_APPLY_HOOKS": "devstack.drills"}, apply_hooks_from, "is not module:function"),
        ({"OUTBOXKIT_APPLY_HOOKS": "no.such:thing"}, apply_hooks_from, "cannot be loaded"),
        ({"CONNECT_URL": "127.0.0.1:8083"}, lambda s: s.connect_url, "is not an http(s) URL"),
        ({"HEALTH_PORT": "99999"}, lambda s: s.health_port(9101), "between 0 and 65535"),
        ({"INBOX_RETENTION_DAYS": "0"}, lambda s: s.inbox_retention_days, "it must be more than 0"),
        ({"PRUNE_EVERY_S": "-1"}, lambda s: s.prune_every_s, "PRUNE_EVERY_S='-1' is out of range"),
        ({"PRUNE_BATCH_SIZE": "0"}, lambda s: s.prune_batch_size, "between 1 and 100000"),
    ],
)
def test_a_malformed_value_names_the_variable_and_the_rule(values, read, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(settings(**values))


def test_the_apply_hooks_are_the_ones_the_setting_names():
    assert type(apply_hooks_from(settings())).__name__ == "NoHooks"
    named = apply_hooks_from(settings(**drills.drill_env(after_commits=3)))
    assert isinstance(named, drills.FailureDrills)
    assert (named.crash_after_commits, named.crash_before_commit) == (3, None)


def test_a_missing_password_says_where_it_comes_from():
    with pytest.raises(
        SettingsError,
        match=r"neither ORDER_DB_PASSWORD nor DB_PASSWORD_SECRET is set: export one, "
        r"or name an env file that sets one in OUTBOXKIT_ENV_FILE",
    ):
        settings().db_url("order")


def test_settings_read_the_env_file_named_and_nothing_else(tmp_path, monkeypatch):
    """The environment wins over the file; a file named but absent sets nothing and the error names
    it; without a name no file is read, whatever the working directory holds."""
    env_file = tmp_path / "team.env"
    env_file.write_text("# the team's stack\nDB_PORT=3399\nKAFKA_BOOTSTRAP_SERVERS='k:1'\n")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DB_PORT", "3400")
    monkeypatch.setenv("OUTBOXKIT_ENV_FILE", str(env_file))
    loaded = Settings.load()
    assert (loaded.db_port, loaded.kafka_bootstrap_servers, loaded.env_file) == (3400, "k:1", env_file)
    assert Settings.load(tmp_path / "other.env").env_file == tmp_path / "other.env"

    monkeypatch.setenv("OUTBOXKIT_ENV_FILE", str(tmp_path / "absent.env"))
    with pytest.raises(
        SettingsError, match=r"setting CDC_DB_PASSWORD is not set: export it, or write it to "
    ):
        Settings.load().get("CDC_DB_PASSWORD")

    monkeypatch.delenv("OUTBOXKIT_ENV_FILE")
    monkeypatch.delenv("DB_PORT")
    (tmp_path / ".state").mkdir()
    (tmp_path / ".state" / "stack.env").write_text("DB_PORT=3401\n")
    (tmp_path / ".env").write_text("DB_PORT=3402\n")
    monkeypatch.chdir(tmp_path)
    nothing_named = Settings.load()
    assert (nothing_named.env_file, nothing_named.db_port) == (None, 3307)


def test_each_database_password_is_derived_from_one_secret_unless_set():
    one, other = settings(DB_PASSWORD_SECRET="s3cret"), settings(DB_PASSWORD_SECRET="another")
    assert one.db_password("order") == one.db_password("order")  # the same on every process
    assert len({one.db_password("order"), one.db_password("payment"), other.db_password("order")}) == 3
    assert len(one.db_password("order")) >= 40
    assert settings(DB_PASSWORD_SECRET="s3cret", ORDER_DB_PASSWORD="mine").db_password("order") == "mine"


def test_an_explicit_health_port_is_required_as_given():
    assert settings(HEALTH_PORT="0").health_port(9101) == (0, True)


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    health = Health("inventory-service")
    caplog.set_level(logging.INFO)
    for _ in range(5):
        health.unavailable("database", "connection refused", holding="order.events[1]@7")
    assert (health.healthy, health.report()["status"]) == (False, "unavailable")
    assert [o["dependency"] for o in health.report()["outages"]] == ["database"]
    health.available("database")
    health.available("database")
    assert (health.healthy, health.report()["status"]) == (True, "ok")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0] == (
        "inventory-service: database unavailable (connection refused); "
        "holding order.events[1]@7 until it is back"
    )
    assert lines[1].startswith("inventory-service: database is back after ")


def test_draining_is_not_healthy():
    health = Health("x")
    health.draining()
    assert health.report()["status"] == "draining" and not health.healthy


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Kafka's own test vectors (org.apache.kafka.common.utils.UtilsTest#testMurmur2).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_clients(data, expected):
    assert murmur2(data) == expected


def test_partition_for_is_the_java_default_partitioner():
    assert partition_for(b"abc", 6) == (479470107 & 0x7FFFFFFF) % 6
    assert partition_for("abc", 6) == partition_for(b"abc", 6)


def test_repeated_client_log_lines_are_suppressed_within_the_window():
    dedupe = RepeatSuppressingFilter(window_s=60)

    def record(text: str) -> logging.LogRecord:
        return logging.LogRecord("librdkafka", logging.ERROR, __file__, 1, text, None, None)

    assert dedupe.filter(record("1795636287.1|FAIL| Connect to 127.0.0.1:1 failed (after 0ms)"))
    assert not dedupe.filter(record("1795636288.2|FAIL| Connect to 127.0.0.1:1 failed (after 3ms)"))
    assert dedupe.filter(record("something else went wrong"))
