"""Checks that a database can feed Debezium before a connector is registered.

A connector on a misconfigured database fails late and obscurely (or silently drops data:
a STATEMENT binlog has no rows to read). Each check here names the setting to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.version.lower()


def parse_grants(grants: Iterable[str]) -> dict[str, set[str]]:
    """Map each grant scope (``*.*``, ```order_db`.*``) to its privileges, aliases resolved."""
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


def evaluate(facts: DatabaseFacts, database: str, outbox_table: str = "outbox") -> list[CheckResult]:
    v = {k.lower(): str(val) for k, val in facts.variables.items()}
    results = [
        _setting("log_bin", v.get("log_bin"), v.get("log_bin", "").upper() in ("ON", "1"),
                 "Debezium reads the binlog: start the server with log_bin enabled"),
        _setting("binlog_format", v.get("binlog_format"), v.get("binlog_format", "").upper() == "ROW",
                 "it must be ROW (binlog_format=ROW)"),
        _setting("binlog_row_image", v.get("binlog_row_image"),
                 v.get("binlog_row_image", "").upper() == "FULL",
                 "it must be FULL (binlog_row_image=FULL)"),
        _setting("server_id", v.get("server_id"), v.get("server_id", "0") not in ("", "0"),
                 "set server_id to a non-zero value"),
    ]
    scopes = parse_grants(facts.grants)
    global_privs = scopes.get("*.*", set())
    has_all = "ALL PRIVILEGES" in global_privs
    missing = [p for p in REQUIRED_GLOBAL_PRIVILEGES if not has_all and p not in global_privs]
    select_ok = has_all or "SELECT" in global_privs or bool(
        scopes.get(f"{database}.*", set()) & {"SELECT", "ALL PRIVILEGES"}
    )
    if not select_ok:
        missing.insert(0, f"SELECT on {database}.*")
    results.append(
        CheckResult(
            "grants",
            not missing,
            "CDC user has the grants Debezium needs" if not missing
            else f"CDC user lacks: {', '.join(missing)} (GRANT ... ON *.*)",
        )
    )
    results.append(
        CheckResult(
            "outbox table",
            outbox_table in facts.tables,
            f"{database}.{outbox_table} exists" if outbox_table in facts.tables
            else f"{database}.{outbox_table} does not exist: start the service once to create "
            "its tables before registering its connector",
        )
    )
    return results


def read_facts(host: str, port: int, user: str, password: str, database: str) -> DatabaseFacts:
    try:
        connection = pymysql.connect(
            host=host, port=port, user=user, password=password, connect_timeout=10
        )
    except pymysql.err.OperationalError as exc:
        raise ConnectionError(
            f"cannot connect to the database at {host}:{port} as {user!r}: {exc.args[-1]}"
        ) from exc
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = str(cursor.fetchone()[0])
            cursor.execute(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                "('log_bin', 'binlog_format', 'binlog_row_image', 'server_id')"
            )
            variables = {str(name): str(value) for name, value in cursor.fetchall()}
            cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
            grants = [str(row[0]) for row in cursor.fetchall()]
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (database,),
            )
            tables = {str(row[0]) for row in cursor.fetchall()}
    finally:
        connection.close()
    return DatabaseFacts(version=version, variables=variables, grants=grants, tables=tables)
