"""Python API for tests and scripts: bring the native stack up, learn where it is, stop it.

    from devstack import api
    endpoints = api.ensure_up()      # starts what is missing, reuses what runs
    endpoints.kafka_bootstrap_servers, endpoints.cdc_db_password, ...
    api.down()                       # stops only the processes the stack started

The processes are detached: they outlive the Python process that started them (a pytest
session) and stop only on ``down()`` / ``stack down``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.components.base import ComponentStatus
from devstack.components.mariadb import MariaDbInstance
from devstack.config import state_paths
from devstack.errors import StackError
from devstack.stack import Stack
from devstack.stackenv import read_stack_env
from devstack.virtualenv_defaults import ENV_FILE_VARIABLE

__all__ = [
    "ComponentStatus",
    "Endpoints",
    "MariaDbInstance",
    "StackError",
    "down",
    "endpoints",
    "ensure_up",
    "is_up",
    "stack_elsewhere",
    "status",
]


@dataclass(frozen=True)
class Endpoints:
    """Where the running stack listens and how to log in (the contents of stack.env)."""

    db_host: str
    db_port: int
    mariadb_socket: str
    db_password_secret: str  # each service's database password is derived from it
    cdc_db_password: str
    kafka_bootstrap_servers: str
    schema_registry_url: str
    connect_url: str
    state_dir: Path
    env_file: Path

    def as_env(self) -> dict[str, str]:
        """The stack.env form (KEY=VALUE names), e.g. to pass to a subprocess's environment."""
        values = {k.upper(): str(v) for k, v in asdict(self).items()}
        values.pop("STATE_DIR")
        values["OUTBOXKIT_ENV_FILE"] = values.pop("ENV_FILE")
        return values


def endpoints(state_dir: Path | str | None = None) -> Endpoints:
    """The endpoints recorded by the last ``up`` (does not check that anything runs)."""
    paths = state_paths(state_dir)
    values = read_stack_env(paths)
    if not values:
        raise StackError(f"{paths.stack_env} does not exist yet: run `stack up` first")
    try:
        return Endpoints(
            db_host=values["DB_HOST"],
            db_port=int(values["DB_PORT"]),
            mariadb_socket=values["MARIADB_SOCKET"],
            db_password_secret=values["DB_PASSWORD_SECRET"],
            cdc_db_password=values["CDC_DB_PASSWORD"],
            kafka_bootstrap_servers=values["KAFKA_BOOTSTRAP_SERVERS"],
            schema_registry_url=values["SCHEMA_REGISTRY_URL"],
            connect_url=values["CONNECT_URL"],
            state_dir=paths.root,
            env_file=paths.stack_env,
        )
    except KeyError as missing:
        raise StackError(f"{paths.stack_env} lacks {missing}: run `stack up` again") from None


def ensure_up(state_dir: Path | str | None = None) -> Endpoints:
    """Start every part that is not running (reusing those that are) and wait until healthy."""
    Stack(state_dir).up()
    return endpoints(state_dir)


def stack_elsewhere() -> Path | None:
    """The env file OUTBOXKIT_ENV_FILE names when it is not the native stack's (this checkout's
    virtualenv names that one by default): a stack someone else started, compose's ``.env``."""
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    return None if path == state_paths().stack_env.resolve() else path


def down(state_dir: Path | str | None = None) -> None:
    """Stop the stack's processes (by their recorded pids), connect first, mariadb last."""
    Stack(state_dir).down()


def status(state_dir: Path | str | None = None) -> list[ComponentStatus]:
    """Each part's state (up/unhealthy/down), pid, ports and log file."""
    return Stack(state_dir).status()


def is_up(state_dir: Path | str | None = None) -> bool:
    return all(part.state == "up" for part in status(state_dir))
