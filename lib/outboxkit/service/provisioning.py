"""The databases, users and grants the roster needs, as SQL a server's root runs.

One database and one user per database of the roster (``<db>_db``, ``<db>_svc``, all privileges
on that database only), and the CDC user Debezium logs in as: it may read and follow the binlog
and write only the heartbeat table of each database whose outbox a connector publishes. Every
statement is idempotent and each user's password is set again (a data directory that outlived
its passwords is brought in line), so it can run at every start and after every roster change.
A development stack may run it through the server's socket; anyone else through
``outboxkit provision-databases``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from outboxkit.base.settings import Settings
from outboxkit.cdc.connectors import HEARTBEAT_TABLE

if TYPE_CHECKING:
    from outboxkit.service.definition import ServiceDefinition

CDC_USER = "cdc"  # outbox_connector.json's database.user
CDC_GRANTS = "SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT"


def provisioning_statements(settings: Settings, definitions: Sequence[ServiceDefinition[Any]]) -> list[str]:
    """The statements, in order; passwords from ``settings`` (a missing one raises SettingsError
    before any statement is made)."""
    statements: list[str] = []
    for prefix in dict.fromkeys(d.database or d.name for d in definitions):
        database, user = settings.database_name(prefix), settings.db_user(prefix)
        statements += [
            f"CREATE DATABASE IF NOT EXISTS {database}",
            *_user(user, settings.db_password(prefix)),
            f"GRANT ALL PRIVILEGES ON {database}.* TO '{user}'@'%'",
        ]
    statements += [
        *_user(CDC_USER, settings.get("CDC_DB_PASSWORD")),
        f"GRANT {CDC_GRANTS} ON *.* TO '{CDC_USER}'@'%'",
    ]
    for definition in definitions:
        if definition.publishes:
            # Written by the connector's heartbeat.action.query every 2 s and captured, so its
            # offset always carries the binlog time it has read up to, even for an idle database.
            table = f"{definition.database_name}.{HEARTBEAT_TABLE}"
            statements += [
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(connector VARCHAR(64) PRIMARY KEY, beat_at DATETIME(6) NOT NULL)",
                f"GRANT INSERT, UPDATE ON {table} TO '{CDC_USER}'@'%'",
            ]
    return [*statements, "FLUSH PRIVILEGES"]


def provisioning_sql(settings: Settings, definitions: Sequence[ServiceDefinition[Any]]) -> str:
    """The SQL a server's root runs to create the databases, users and grants of ``definitions``."""
    return "".join(f"{statement};\n" for statement in provisioning_statements(settings, definitions))


def _user(user: str, password: str) -> list[str]:
    literal = _sql_string(password)
    # CREATE ... IF NOT EXISTS keeps an existing user's old password: ALTER sets the current one.
    return [
        f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY {literal}",
        f"ALTER USER '{user}'@'%' IDENTIFIED BY {literal}",
    ]


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
