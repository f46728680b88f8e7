from outboxkit.cdc.preflight import DatabaseFacts, evaluate, parse_grants

GOOD_VARIABLES = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "server_id": "7"}
MARIADB_GRANT = (
    "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`%` "
    "IDENTIFIED BY PASSWORD '*ABC'"
)


def facts(variables=None, grants=None, tables=None, version="10.11.19-MariaDB-0+deb12u1", plugin=None):
    return DatabaseFacts(
        version=version,
        variables=variables if variables is not None else GOOD_VARIABLES,
        grants=grants if grants is not None else [MARIADB_GRANT],
        tables=tables if tables is not None else {"outbox"},
        auth_plugin=plugin,
    )


def failed(results):
    return {r.name: r.detail for r in results if not r.ok}


def test_a_ready_database_passes_every_check():
    assert failed(evaluate(facts(), "order_db")) == {}
    assert facts().is_mariadb


def test_each_missing_binlog_setting_is_named():
    bad = {"log_bin": "OFF", "binlog_format": "STATEMENT", "binlog_row_image": "MINIMAL", "server_id": "0"}
    problems = failed(evaluate(facts(variables=bad), "order_db"))
    assert set(problems) == {"log_bin", "binlog_format", "binlog_row_image", "server_id"}
    assert "STATEMENT" in problems["binlog_format"]
    assert "MINIMAL" in problems["binlog_row_image"]


def test_missing_grant_is_named():
    grant = "GRANT SELECT, RELOAD ON *.* TO `cdc`@`%`"
    problems = failed(evaluate(facts(grants=[grant]), "order_db"))
    assert set(problems) == {"grants"}
    assert "REPLICATION SLAVE" in problems["grants"]
    assert "REPLICATION CLIENT" in problems["grants"]


def test_select_on_the_database_only_is_enough():
    grants = [
        "GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`",
        "GRANT SELECT ON `order_db`.* TO `cdc`@`%`",
    ]
    assert failed(evaluate(facts(grants=grants), "order_db")) == {}
    problems = failed(evaluate(facts(grants=grants), "inventory_db"))
    assert "SELECT on inventory_db.*" in problems["inventory_db readable"]


def test_all_privileges_covers_everything():
    assert failed(evaluate(facts(grants=["GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"]), "x")) == {}


def test_missing_outbox_table_is_named():
    assert "outbox table" in failed(evaluate(facts(tables=set()), "order_db"))


def test_parse_grants_resolves_mariadb_aliases():
    scopes = parse_grants([MARIADB_GRANT])
    assert "REPLICATION CLIENT" in scopes["*.*"]


MYSQL = "9.7.4-2"
MYSQL_GRANTS = [
    "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`",
    "GRANT INSERT, UPDATE ON `order_db`.`cdc_heartbeat` TO `cdc`@`%`",
]


def test_the_heartbeat_table_must_exist_and_be_writable_by_the_cdc_user():
    ready = facts(grants=MYSQL_GRANTS, tables={"outbox", "cdc_heartbeat"}, version=MYSQL)
    assert failed(evaluate(ready, "order_db", heartbeat_table="cdc_heartbeat")) == {}
    missing = facts(grants=MYSQL_GRANTS, tables={"outbox"}, version=MYSQL)
    assert (
        "does not exist"
        in failed(evaluate(missing, "order_db", heartbeat_table="cdc_heartbeat"))["heartbeat table"]
    )
    read_only = facts(grants=MYSQL_GRANTS[:1], tables={"outbox", "cdc_heartbeat"}, version=MYSQL)
    assert (
        "lacks INSERT, UPDATE"
        in failed(evaluate(read_only, "order_db", heartbeat_table="cdc_heartbeat"))["heartbeat table"]
    )


def test_mysql_gtid_mode_needs_consistency_and_a_transition_state_is_refused():
    on = {**GOOD_VARIABLES, "gtid_mode": "ON", "enforce_gtid_consistency": "OFF"}
    assert "enforce_gtid_consistency" in failed(evaluate(facts(on, version=MYSQL), "order_db"))["gtid"]
    consistent = {**on, "enforce_gtid_consistency": "ON"}
    assert failed(evaluate(facts(consistent, version=MYSQL), "order_db")) == {}
    halfway = {**GOOD_VARIABLES, "gtid_mode": "OFF_PERMISSIVE"}
    assert "transition" in failed(evaluate(facts(halfway, version=MYSQL), "order_db"))["gtid"]
    assert failed(evaluate(facts(GOOD_VARIABLES, version=MYSQL), "order_db")) == {}  # OFF: file + position


def test_an_authentication_plugin_a_tcp_client_cannot_use_is_refused():
    assert "auth_socket" in failed(evaluate(facts(plugin="auth_socket"), "order_db"))["authentication"]
    sha2 = evaluate(facts(plugin="caching_sha2_password", version=MYSQL), "order_db")
    assert not failed(sha2)
    assert "allowPublicKeyRetrieval" in next(r.detail for r in sha2 if r.name == "authentication")


def test_the_retention_is_reported_as_how_long_a_connector_may_be_down():
    week = {**GOOD_VARIABLES, "binlog_expire_logs_seconds": "604800"}
    retention = next(r for r in evaluate(facts(week), "order_db") if r.name == "binlog retention")
    assert retention.ok and "7 day(s)" in retention.detail
