from eventcore.cdc.preflight import DatabaseFacts, evaluate, parse_grants

GOOD_VARIABLES = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "server_id": "7"}
MARIADB_GRANT = (
    "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`%` "
    "IDENTIFIED BY PASSWORD '*ABC'"
)


def facts(variables=None, grants=None, tables=None):
    return DatabaseFacts(
        version="10.11.19-MariaDB-0+deb12u1",
        variables=variables if variables is not None else GOOD_VARIABLES,
        grants=grants if grants is not None else [MARIADB_GRANT],
        tables=tables if tables is not None else {"outbox"},
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
    assert "SELECT on inventory_db.*" in failed(evaluate(facts(grants=grants), "inventory_db"))["grants"]


def test_all_privileges_covers_everything():
    assert failed(evaluate(facts(grants=["GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"]), "x")) == {}


def test_missing_outbox_table_is_named():
    assert "outbox table" in failed(evaluate(facts(tables=set()), "order_db"))


def test_parse_grants_resolves_mariadb_aliases():
    scopes = parse_grants([MARIADB_GRANT])
    assert "REPLICATION CLIENT" in scopes["*.*"]
