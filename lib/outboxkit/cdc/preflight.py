"""Checks that a database can feed Debezium before a connector is registered.

A connector on a misconfigured database fails late and obscurely (or silently drops data:
a STATEMENT binlog has no rows to read). Each check here names the setting to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql

REQUIRED_GLOBAL_PRIVILEGES = ("RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "REPLICATION CLIENT")
# MariaDB 10.5+ reports REPLICATION CLIENT as BINLOG MONITOR, and REPLICATION SLAVE may show as
# REPLICATION REPLICA on newer servers.
PRIVILEGE_ALIASES = {
    "BINLOG MONITOR": "REPLICATION CLIENT",
    "REPLICATION REPLICA": "REPLICATION SLAVE",
}
GRANT_PATTERN = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<scope>\S+) TO ", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAILED'}] {self.name}: {self.detail}"


def _setting(name: str, actual: str | None, ok: bool, requirement: str) -> CheckResult:
    shown = actual if actual not in (None, "") else "unset"
    return CheckResult(name, ok, f"{shown}" if ok else f"{shown}; {requirement}")


@dataclass(frozen=True)
class DatabaseFacts:
    """What pre-flight reads from the server, separated so the rules are testable without one."""

    version: str
    variables: Mapping[str, str]
    grants: list[str]
    tables: set[str]
    auth_plugin: str | None = None  # how the CDC user logs in (None: could not be read)

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.version.lower()

    @property
    def major_version(self) -> int:
        leading = re.match(r"\d+", self.version)
        return int(leading.group(0)) if leading else 0


# Plugins a TCP client (Debezium's JDBC driver and binlog reader) can log in with.
TCP_AUTH_PLUGINS = {
    "mysql_native_password",
    "caching_sha2_password",
    "sha256_password",
    "ed25519",
    "client_ed25519",
}


def parse_grants(grants: Iterable[str]) -> dict[str, set[str]]:
    """Map each grant scope (``*.*``, ```<database>`.*``) to its privileges, aliases resolved."""
    by_scope: dict[str, set[str]] = {}
    for line in grants:
        match = GRANT_PATTERN.match(line.strip())
        if not match:
            continue
        scope = match.group("scope").replace("`", "")
        privileges = {p.strip().upper() for p in match.group("privs").split(",")}
        privileges = {PRIVILEGE_ALIASES.get(p, p) for p in privileges}
        by_scope.setdefault(scope, set()).update(privileges)
    return by_scope


def evaluate(
    facts: DatabaseFacts, database: str, outbox_table: str = "outbox", heartbeat_table: str | None = None
) -> list[CheckResult]:
    """Every check for a connector that captures one database's outbox (and its heartbeat table)."""
    return [*server_checks(facts), *database_checks(facts, database, outbox_table, heartbeat_table)]


def server_checks(facts: DatabaseFacts) -> list[CheckResult]:
    """What the server must be for Debezium, whatever it captures: binlog, GTIDs, retention, the
    CDC user's login and global grants."""
    v = {k.lower(): str(val) for k, val in facts.variables.items()}
    results = [
        _setting(
            "log_bin",
            v.get("log_bin"),
            v.get("log_bin", "").upper() in ("ON", "1"),
            "Debezium reads the binlog: start the server with log_bin enabled",
        ),
        _setting(
            "binlog_format",
            v.get("binlog_format"),
            v.get("binlog_format", "").upper() == "ROW",
            "it must be ROW (binlog_format=ROW)",
        ),
        _setting(
            "binlog_row_image",
            v.get("binlog_row_image"),
            v.get("binlog_row_image", "").upper() == "FULL",
            "it must be FULL (binlog_row_image=FULL)",
        ),
        _setting(
            "server_id",
            v.get("server_id"),
            v.get("server_id", "0") not in ("", "0"),
            "set server_id to a non-zero value",
        ),
        _gtid(facts, v),
        _retention(v),
        _auth_plugin(facts),
    ]
    global_privs = parse_grants(facts.grants).get("*.*", set())
    has_all = "ALL PRIVILEGES" in global_privs
    missing = [p for p in REQUIRED_GLOBAL_PRIVILEGES if not has_all and p not in global_privs]
    results.append(
        CheckResult(
            "grants",
            not missing,
            "CDC user has the global grants Debezium needs"
            if not missing
            else f"CDC user lacks: {', '.join(missing)} (GRANT ... ON *.*)",
        )
    )
    return results


def database_checks(
    facts: DatabaseFacts, database: str, outbox_table: str = "outbox", heartbeat_table: str | None = None
) -> list[CheckResult]:
    """What one captured database must have: the CDC user may read it, its outbox table exists,
    and so does the heartbeat table the connector writes, if it writes one there."""
    scopes = parse_grants(facts.grants)
    global_privs = scopes.get("*.*", set())
    readable = bool(global_privs & {"SELECT", "ALL PRIVILEGES"}) or bool(
        scopes.get(f"{database}.*", set()) & {"SELECT", "ALL PRIVILEGES"}
    )
    results = [
        CheckResult(
            f"{database} readable",
            readable,
            "the CDC user may SELECT from it"
            if readable
            else f"CDC user lacks: SELECT on {database}.* (GRANT SELECT ON {database}.* or *.*)",
        )
    ]
    if heartbeat_table is not None:
        results.append(_heartbeat_table(facts, scopes, database, heartbeat_table))
    results.append(
        CheckResult(
            "outbox table",
            outbox_table in facts.tables,
            f"{database}.{outbox_table} exists"
            if outbox_table in facts.tables
            else f"{database}.{outbox_table} does not exist: start the service once to create "
            "its tables before registering its connector",
        )
    )
    return results


def _heartbeat_table(
    facts: DatabaseFacts, scopes: dict[str, set[str]], database: str, table: str
) -> CheckResult:
    where = ("*.*", f"{database}.*", f"{database}.{table}")
    granted = set().union(*(scopes.get(scope, set()) for scope in where))
    writable = "ALL PRIVILEGES" in granted or {"INSERT", "UPDATE"} <= granted
    present = table in facts.tables
    if present and writable:
        return CheckResult("heartbeat table", True, f"{database}.{table} exists; the CDC user may write it")
    problem = "lacks INSERT, UPDATE for the CDC user" if present else "does not exist"
    return CheckResult(
        "heartbeat table",
        False,
        f"{database}.{table} {problem}: provision the databases "
        "(`outboxkit provision-databases`, as the server's root)",
    )


def _gtid(facts: DatabaseFacts, v: Mapping[str, str]) -> CheckResult:
    if facts.is_mariadb:
        # MariaDB always writes GTIDs; Debezium's MariaDB connector resumes by them.
        return CheckResult("gtid", True, f"MariaDB GTIDs (domain {v.get('gtid_domain_id', '0')})")
    mode = v.get("gtid_mode", "OFF").upper()
    if mode == "ON":
        consistent = v.get("enforce_gtid_consistency", "").upper() == "ON"
        return CheckResult(
            "gtid",
            consistent,
            "gtid_mode=ON, enforce_gtid_consistency=ON"
            if consistent
            else "gtid_mode=ON needs enforce_gtid_consistency=ON",
        )
    if mode in ("OFF", ""):
        return CheckResult("gtid", True, "gtid_mode=OFF: Debezium follows file and position")
    return CheckResult("gtid", False, f"gtid_mode={mode} is a transition state: set it ON or OFF")


def _retention(v: Mapping[str, str]) -> CheckResult:
    seconds = int(float(v.get("binlog_expire_logs_seconds", "0") or 0))
    if seconds <= 0:
        seconds = int(float(v.get("expire_logs_days", "0") or 0) * 86400)
    if seconds <= 0:
        return CheckResult("binlog retention", True, "binlogs are never expired (watch the disk)")
    days = seconds / 86400
    return CheckResult(
        "binlog retention",
        True,
        f"{days:g} day(s): a connector may be stopped this long before its position is "
        "purged and `outboxkit cdc recover` is needed",
    )


def _auth_plugin(facts: DatabaseFacts) -> CheckResult:
    plugin = facts.auth_plugin
    if plugin is None:
        return CheckResult("authentication", True, "the CDC user's plugin could not be read")
    if plugin not in TCP_AUTH_PLUGINS:
        return CheckResult(
            "authentication",
            False,
            f"the CDC user logs in with {plugin}, which a TCP client "
            "cannot use: ALTER USER cdc IDENTIFIED WITH caching_sha2_password (MySQL) or "
            "mysql_native_password (MariaDB) BY '...'",
        )
    if plugin == "caching_sha2_password":
        return CheckResult(
            "authentication",
            True,
            "caching_sha2_password: Debezium uses TLS, or retrieves "
            "the server's public key (allowPublicKeyRetrieval, set at registration)",
        )
    return CheckResult("authentication", True, plugin)


@contextmanager
def server_connection(
    host: str, port: int, user: str, password: str
) -> Iterator[pymysql.connections.Connection]:
    """A connection as the CDC user (what Debezium logs in as); one line when it is refused."""
    try:
        connection = pymysql.connect(host=host, port=port, user=user, password=password, connect_timeout=10)
    except pymysql.err.OperationalError as exc:
        raise ConnectionError(
            f"cannot connect to the database at {host}:{port} as {user!r}: {exc.args[-1]}"
        ) from exc
    try:
        yield connection
    finally:
        connection.close()


def _one(row: tuple[Any, ...] | None) -> Any:
    """The first column of a row a query always returns."""
    if row is None:
        raise RuntimeError("the server returned no row")
    return row[0]


def read_facts(host: str, port: int, user: str, password: str, database: str) -> DatabaseFacts:
    with server_connection(host, port, user, password) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = str(_one(cursor.fetchone()))
        cursor.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
            "('log_bin', 'binlog_format', 'binlog_row_image', 'server_id', 'gtid_mode', "
            "'enforce_gtid_consistency', 'gtid_domain_id', 'binlog_expire_logs_seconds', 'expire_logs_days')"
        )
        variables = {str(name): str(value) for name, value in cursor.fetchall()}
        try:
            cursor.execute("SELECT plugin FROM mysql.user WHERE CONCAT(user, '@', host) = CURRENT_USER()")
            found = cursor.fetchone()
            plugin = str(found[0]) if found else None
        except pymysql.MySQLError:
            plugin = None
        cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [str(row[0]) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (database,),
        )
        tables = {str(row[0]) for row in cursor.fetchall()}
    return DatabaseFacts(
        version=version, variables=variables, grants=grants, tables=tables, auth_plugin=plugin
    )
