"""Where the stack is and how to log in, read from the environment.

Values come from environment variables; anything not set there is read from the env file
the native stack writes (``.state/stack.env``) or the file named by ``STACK_ENV_FILE``
(compose users point it at their ``.env``). Passwords never live in the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = REPO_ROOT / ".state" / "stack.env"
SCHEMAS_DIR = REPO_ROOT / "schemas" / "avro"


class SettingsError(RuntimeError):
    """A required setting is missing."""


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a KEY=VALUE file; blank lines and # comments are ignored."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


@dataclass(frozen=True)
class Settings:
    values: dict[str, str]

    @classmethod
    def load(cls, env_file: Path | None = None) -> Settings:
        path = env_file or Path(os.environ.get("STACK_ENV_FILE", DEFAULT_ENV_FILE))
        merged = read_env_file(path)
        merged.update({k: v for k, v in os.environ.items() if v != ""})
        return cls(merged)

    def get(self, key: str, default: str | None = None) -> str:
        value = self.values.get(key, default)
        if value is None:
            raise SettingsError(
                f"setting {key} is not set: export it, or start the native stack "
                f"(`stack up` writes {DEFAULT_ENV_FILE}), or set STACK_ENV_FILE"
            )
        return value

    @property
    def db_host(self) -> str:
        return self.get("DB_HOST", "127.0.0.1")

    @property
    def db_port(self) -> int:
        return int(self.get("DB_PORT", "3307"))

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

    @property
    def schema_registry_url(self) -> str:
        return self.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")

    @property
    def connect_url(self) -> str:
        return self.get("CONNECT_URL", "http://127.0.0.1:8083")

    @property
    def db_lock_wait_timeout_s(self) -> int:
        """How long a service's statement waits for a row lock before failing (and retrying)."""
        return int(self.get("DB_LOCK_WAIT_TIMEOUT_S", "10"))

    def database_name(self, service: str) -> str:
        return f"{service}_db"

    def db_user(self, service: str) -> str:
        return f"{service}_svc"

    def db_password(self, service: str) -> str:
        return self.get(f"{service.upper()}_DB_PASSWORD")

    def db_url(self, service: str) -> str:
        """SQLAlchemy URL of a service's own database, as that service's own user."""
        from urllib.parse import quote_plus

        return (
            f"mysql+pymysql://{self.db_user(service)}:{quote_plus(self.db_password(service))}"
            f"@{self.db_host}:{self.db_port}/{self.database_name(service)}?charset=utf8mb4"
        )
