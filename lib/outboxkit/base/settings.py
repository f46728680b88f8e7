"""Every setting a process reads, validated in one place.

Values come from environment variables; anything not set there is read from an env file
(``KEY=VALUE`` lines) when one is named: the path ``Settings.load(env_file)`` is given, else the
one the ``OUTBOXKIT_ENV_FILE`` variable names. Nothing else is looked for: a process reads exactly
the settings its caller gave it, wherever it starts.

A malformed value is refused with one line naming the variable, the value and what it must
be (:class:`SettingsError`), before the process touches anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

from outboxkit.base.errors import OutboxKitError

# The variable naming the env file settings are read from.
ENV_FILE_VARIABLE = "OUTBOXKIT_ENV_FILE"


# The secret each service's database password is derived from (see Settings.db_password).
DB_PASSWORD_SECRET = "DB_PASSWORD_SECRET"

KAFKA_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class SettingsError(OutboxKitError, RuntimeError):
    """A required setting is missing or malformed."""


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


def db_password_key(database: str) -> str:
    """Where one database's user password is set: ``<DATABASE>_DB_PASSWORD``, the database's name
    without ``_db``, upper-cased."""
    return f"{database.upper().replace('-', '_')}_DB_PASSWORD"


def named_env_file() -> Path | None:
    """The env file ``OUTBOXKIT_ENV_FILE`` names, if it names one (the file may not exist)."""
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    return Path(named).expanduser() if named else None


@dataclass(frozen=True)
class Settings:
    values: dict[str, str]
    # The env file the values were read from, named in the errors for a missing setting.
    env_file: Path | None = None

    @classmethod
    def load(cls, env_file: Path | None = None) -> Settings:
        """The environment over the env file ``env_file`` (else ``OUTBOXKIT_ENV_FILE``) names;
        a named file that does not exist sets nothing, and the errors say so."""
        source = env_file or named_env_file()
        merged = read_env_file(source) if source is not None else {}
        merged.update({k: v for k, v in os.environ.items() if v != ""})
        return cls(merged, source)

    def where_to_set(self, what: str = "it") -> str:
        """How a missing setting can be given, for the error that names it."""
        if self.env_file is None:
            return f"export {what}, or name an env file that sets {what} in {ENV_FILE_VARIABLE}"
        where = self.env_file.absolute()
        if not self.env_file.is_file():
            return f"export {what}, or write {what} to {where} (the env file named, not there)"
        return f"export {what}, or add {what} to {where}"

    def get(self, key: str, default: str | None = None) -> str:
        value = self.values.get(key, default)
        if value is None:
            raise SettingsError(f"setting {key} is not set: {self.where_to_set()}")
        return value

    def get_int(self, key: str, default: int | None, minimum: int, maximum: int | None = None) -> int:
        raw = self.get(key, None if default is None else str(default))
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingsError(f"{key}={raw!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise SettingsError(f"{key}={raw!r} is out of range: it must be {bound}")
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.get(key, "true" if default else "false").strip().lower()
        if value not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"{key}={value!r} is not true or false")
        return value in ("true", "1", "yes")

    def get_optional_int(self, key: str, minimum: int) -> int | None:
        return self.get_int(key, None, minimum) if self.values.get(key) else None

    def get_float(
        self,
        key: str,
        default: float,
        minimum: float,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float:
        raw = self.get(key, str(default))
        try:
            value = float(raw.strip())
        except ValueError:
            raise SettingsError(f"{key}={raw!r} is not a number") from None
        too_low = value <= minimum if exclusive_minimum else value < minimum
        if too_low or (maximum is not None and value > maximum) or value != value:  # NaN
            low = f"more than {minimum:g}" if exclusive_minimum else f"at least {minimum:g}"
            high = f" and at most {maximum:g}" if maximum is not None else ""
            raise SettingsError(f"{key}={raw!r} is out of range: it must be {low}{high}")
        return value

    # -- where the stack is -------------------------------------------------------------------

    @property
    def db_host(self) -> str:
        return self.get("DB_HOST", "127.0.0.1")

    @property
    def db_port(self) -> int:
        return self.get_int("DB_PORT", 3307, 1, 65535)

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

    @property
    def schema_registry_url(self) -> str:
        return self._url("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")

    @property
    def connect_url(self) -> str:
        """One Kafka Connect worker's URL, or several, comma-separated (any one may answer)."""
        value = self.get("CONNECT_URL", "http://127.0.0.1:8083")
        for part in value.split(","):
            if not part.strip().startswith(("http://", "https://")):
                raise SettingsError(f"CONNECT_URL={value!r}: {part.strip()!r} is not an http(s) URL")
        return value

    @property
    def connect_metrics_urls(self) -> list[str]:
        """Each Connect worker's Prometheus page (CONNECT_METRICS_URLS, comma-separated; the JMX
        exporter's): Debezium's streaming metrics. Empty: not known here."""
        value = self.values.get("CONNECT_METRICS_URLS", "")
        urls = [part.strip() for part in value.split(",") if part.strip()]
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise SettingsError(f"CONNECT_METRICS_URLS={value!r}: {url!r} is not an http(s) URL")
        return urls

    @property
    def kafka_security(self) -> dict[str, str]:
        """How this process's Kafka clients authenticate (librdkafka settings; empty: PLAINTEXT).

        KAFKA_SECURITY_PROTOCOL (PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL), KAFKA_SASL_MECHANISM
        (SCRAM-SHA-512 unless said), KAFKA_USERNAME and KAFKA_PASSWORD, KAFKA_SSL_CA_LOCATION.
        """
        protocol = self.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper()
        if protocol not in KAFKA_PROTOCOLS:
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of {', '.join(KAFKA_PROTOCOLS)}"
            )
        if protocol == "PLAINTEXT":
            return {}
        config = {"security.protocol": protocol}
        if protocol.startswith("SASL"):
            mechanism = self.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").strip().upper()
            if mechanism not in KAFKA_SASL_MECHANISMS:
                raise SettingsError(
                    f"KAFKA_SASL_MECHANISM={mechanism!r} is not one of {', '.join(KAFKA_SASL_MECHANISMS)}"
                )
            config.update(
                {
                    "sasl.mechanism": mechanism,
                    "sasl.username": self.get("KAFKA_USERNAME"),
                    "sasl.password": self.get("KAFKA_PASSWORD"),
                }
            )
        if self.values.get("KAFKA_SSL_CA_LOCATION"):
            config["ssl.ca.location"] = self.get("KAFKA_SSL_CA_LOCATION")
        return config

    def _url(self, key: str, default: str) -> str:
        value = self.get(key, default)
        if not value.startswith(("http://", "https://")):
            raise SettingsError(f"{key}={value!r} is not an http(s) URL")
        return value

    def database_name(self, service: str) -> str:
        return f"{service}_db"

    def db_user(self, service: str) -> str:
        return f"{service}_svc"

    def db_password(self, service: str) -> str:
        """``<SERVICE>_DB_PASSWORD`` when set, else derived from DB_PASSWORD_SECRET and the user's
        name: one secret for every service of the roster, a different password for each."""
        explicit = self.values.get(db_password_key(service))
        if explicit:
            return explicit
        secret = self.values.get(DB_PASSWORD_SECRET)
        if not secret:
            raise SettingsError(
                f"neither {db_password_key(service)} nor {DB_PASSWORD_SECRET} is set: "
                f"{self.where_to_set('one')}"
            )
        digest = hmac.new(secret.encode(), self.db_user(service).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    @property
    def db_driver(self) -> str:
        """The MySQL driver SQLAlchemy uses: ``mysqldb`` (mysqlclient, in C) when it is installed,
        else ``pymysql`` (pure Python); DB_DRIVER=pymysql|mysqlclient chooses one."""
        chosen = self.get("DB_DRIVER", "auto").strip().lower()
        if chosen not in ("auto", "mysqlclient", "pymysql"):
            raise SettingsError(f"DB_DRIVER={chosen!r} is not auto, mysqlclient or pymysql")
        if chosen == "pymysql":
            return "pymysql"
        try:
            import MySQLdb  # noqa: F401  (mysqlclient)
        except ImportError:
            if chosen == "mysqlclient":
                raise SettingsError(
                    "DB_DRIVER=mysqlclient, but mysqlclient is not installed "
                    "(pip install mysqlclient; it needs libmariadb-dev)"
                ) from None
            return "pymysql"
        return "mysqldb"

    def db_url(self, service: str) -> str:
        """SQLAlchemy URL of a service's own database, as that service's own user."""
        return (
            f"mysql+{self.db_driver}://{self.db_user(service)}:{quote_plus(self.db_password(service))}"
            f"@{self.db_host}:{self.db_port}/{self.database_name(service)}?charset=utf8mb4"
        )

    # -- how a service behaves ----------------------------------------------------------------

    @property
    def db_lock_wait_timeout_s(self) -> int:
        """How long a service's statement waits for a row lock before failing (and retrying)."""
        return self.get_int("DB_LOCK_WAIT_TIMEOUT_S", 10, 1, 3600)

    @property
    def consumer_batch_size(self) -> int:
        return self.get_int("CONSUMER_BATCH_SIZE", 100, 1, 10_000)

    @property
    def inbox_retention_days(self) -> float:
        """How long a receipt stays in the inbox once its group has committed past it."""
        return self.get_float("INBOX_RETENTION_DAYS", 7.0, 0.0, exclusive_minimum=True)

    @property
    def outbox_retention_days(self) -> float:
        """How long a published outbox row stays (for `outboxkit cdc verify`, replays, recovery)."""
        return self.get_float("OUTBOX_RETENTION_DAYS", 3.0, 0.0, exclusive_minimum=True)

    @property
    def prune_every_s(self) -> float:
        """How often a running service prunes its inbox and outbox (0: never; prune-outbox by hand)."""
        return self.get_float("PRUNE_EVERY_S", 60.0, 0.0)

    @property
    def prune_batch_size(self) -> int:
        """Rows deleted per statement (and per transaction) by the pruning."""
        return self.get_int("PRUNE_BATCH_SIZE", 1000, 1, 100_000)

    @property
    def consumer_commit_interval_s(self) -> float:
        """How often a consumer commits the offsets it stored (each stored only after the records'
        transaction committed); 0 commits after every batch."""
        return self.get_float("CONSUMER_COMMIT_INTERVAL_S", 0.2, 0.0, 60.0)

    @property
    def consumer_apply_in_batches(self) -> bool:
        """Apply what one fetch returns in one transaction (false: one transaction per record)."""
        return self.get_bool("CONSUMER_APPLY_IN_BATCHES", True)

    @property
    def consumer_retry_max_attempts(self) -> int:
        """Tries for a record that conflicts (lock wait, deadlock) before it is dead-lettered."""
        return self.get_int("CONSUMER_RETRY_MAX_ATTEMPTS", 5, 1, 1000)

    @property
    def consumer_drain_timeout_s(self) -> float:
        return self.get_float("CONSUMER_DRAIN_TIMEOUT_S", 20.0, 0.0, exclusive_minimum=True)

    def health_port(self, default: int) -> tuple[int, bool]:
        """The /health port (the service's own ``default`` unless HEALTH_PORT says; 0 = any), and
        whether it was asked for explicitly."""
        if self.values.get("HEALTH_PORT"):
            return self.get_int("HEALTH_PORT", None, 0, 65535), True
        return default, False
