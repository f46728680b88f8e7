"""MariaDB with its own datadir, socket and port inside a state directory.

The server binaries come from Debian's packages (installed on demand); the data never goes
near /var/lib/mysql. ``MariaDbInstance`` is usable on its own, e.g. a test can run a second,
throwaway server without the binlog to check a pre-flight checker::

    db = MariaDbInstance(tmp_path, port=3308, include_cdc_cnf=False,
                         extra_settings={"skip-log-bin": None, "binlog_format": "STATEMENT"})
    db.start()
    print(db.run_sql("SELECT @@log_bin"))
    db.stop()
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from devstack.components.base import Component
from devstack.config import CDC_CNF, HOST, MARIADB_PORT, StatePaths, state_paths
from devstack.console import say
from devstack.errors import StackError
from devstack.ports import is_listening

# Debian installs the server in /usr/sbin, which is not on every user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])
_APT_PACKAGES = ("mariadb-server", "mariadb-client")
# A unix socket path must fit in sockaddr_un.sun_path (108 bytes with the final NUL).
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class MariaDbBinaries:
    server: str
    install_db: str
    client: str


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name, path=_SEARCH_PATH)
        if found:
            return found
    return None


def _locate() -> MariaDbBinaries | None:
    server = _find("mariadbd", "mysqld")
    install_db = _find("mariadb-install-db", "mysql_install_db")
    client = _find("mariadb", "mysql")
    if server and install_db and client:
        return MariaDbBinaries(server, install_db, client)
    return None


def _apt_install() -> None:
    if os.geteuid() != 0:
        raise StackError(
            "MariaDB is not installed and installing it needs root: run "
            f"`sudo apt-get install -y --no-install-recommends {' '.join(_APT_PACKAGES)}`"
        )
    say(f"mariadb: not installed; installing {' '.join(_APT_PACKAGES)} with apt-get...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *_APT_PACKAGES],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise StackError(f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{output}")


@cache
def mariadb_binaries() -> MariaDbBinaries:
    """The server, installer and client programs; installs the Debian packages if missing."""
    found = _locate()
    if found is None:
        _apt_install()
        found = _locate()
    if found is None:
        raise StackError("mariadbd, mariadb-install-db or mariadb still missing after apt-get")
    return found


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


class MariaDbInstance(Component):
    """One MariaDB server: ``<state>/<name>/{data,my.cnf,mariadb.sock}``, log in logs/<name>.log."""

    start_timeout = 60.0

    def __init__(
        self,
        state_dir: Path | str | StatePaths | None = None,
        port: int = MARIADB_PORT,
        include_cdc_cnf: bool = True,
        extra_settings: Mapping[str, str | int | None] | None = None,
        name: str | None = None,
    ) -> None:
        paths = state_dir if isinstance(state_dir, StatePaths) else state_paths(state_dir)
        # An extra instance on another port gets its own name, hence its own folder, pid file
        # and log, even inside the stack's state directory.
        default_name = "mariadb" if port == MARIADB_PORT else f"mariadb-{port}"
        super().__init__(paths, name or default_name)
        self.port = port
        self.include_cdc_cnf = include_cdc_cnf
        # Per-instance [mysqld] settings after the shared CDC file, so they override it.
        # A None value writes a bare flag such as ``skip-log-bin``.
        self.extra_settings = dict(extra_settings or {})

    # ----- layout -------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def socket(self) -> Path:
        return self.home / "mariadb.sock"

    @property
    def cnf(self) -> Path:
        return self.home / "my.cnf"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def marker(self) -> str:
        return f"--defaults-file={self.cnf}"

    # ----- lifecycle ----------------------------------------------------------------------

    def start(self) -> int:
        """Start the server (initialising the datadir on first use); returns its pid."""
        self.paths.create()
        return self.ensure_running()

    def prepare(self) -> None:
        binaries = mariadb_binaries()
        super().prepare()
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise StackError(
                f"socket path {self.socket} is longer than {_MAX_SOCKET_PATH} bytes: "
                "use a shorter state directory"
            )
        self.cnf.write_text(self._render_cnf())
        initialized = self.home / ".initialized"
        if initialized.is_file():
            return
        say(f"{self.name}: initialising a new datadir in {self.datadir}")
        # A datadir without the marker is from an interrupted initialisation: start over.
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir.mkdir(parents=True)
        result = subprocess.run(
            [
                binaries.install_db,
                f"--defaults-file={self.cnf}",
                f"--user={_current_user()}",
                # root logs in only through the unix socket as the OS user root: no root
                # password exists to leak, and TCP clients must use the service users.
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            # The installer's own output is generic advice; the reason is in the error log.
            raise self._failure(
                f"datadir initialisation failed (mariadb-install-db exit {result.returncode})"
            )
        initialized.write_text("ok\n")

    def command(self) -> list[str]:
        # --defaults-file must come first: mariadbd reads only that file, not /etc/mysql.
        return [mariadb_binaries().server, f"--defaults-file={self.cnf}", f"--user={_current_user()}"]

    def is_healthy(self) -> bool:
        if not (self.socket.exists() and is_listening(self.port)):
            return False
        try:
            return self.run_sql("SELECT 1", timeout=5).strip() == "1"
        except StackError:
            return False

    # ----- SQL ----------------------------------------------------------------------------

    def run_sql(self, sql: str, database: str | None = None, timeout: float = 60) -> str:
        """Run SQL as root over the unix socket; returns tab-separated rows without headers."""
        argv = [
            mariadb_binaries().client,
            "--no-defaults",  # ignore /etc/mysql client settings (another socket path)
            f"--socket={self.socket}",
            "--protocol=socket",
            "--user=root",
            "--batch",
            "--skip-column-names",
        ]
        if database:
            argv.append(f"--database={database}")
        try:
            result = subprocess.run(
                argv, input=sql, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{self.name}: SQL timed out after {timeout}s") from exc
        if result.returncode != 0:
            raise StackError(f"{self.name}: SQL failed: {result.stderr.strip()}")
        return result.stdout

    # ----- config -------------------------------------------------------------------------

    def _render_cnf(self) -> str:
        lines = [
            f"# Written by devstack for the {self.name} instance; regenerated on every start.",
        ]
        if self.include_cdc_cnf:
            # The CDC and durability settings are shared with the compose stack: include the
            # one file rather than copy its values.
            lines += ["# CDC and durability settings shared with compose:", f"!include {CDC_CNF}"]
        settings: dict[str, str | int | None] = {
            "datadir": str(self.datadir),
            "socket": str(self.socket),
            "port": self.port,
            "bind-address": HOST,
            "pid-file": str(self.home / "mariadb.pid"),
            "log-error": str(self.log_file),
            # Quick clean shutdowns on SIGTERM: `stack down` waits only so long.
            "innodb_fast_shutdown": 1,
        }
        settings.update(self.extra_settings)
        lines.append("")
        lines.append("[mysqld]")
        for key, value in settings.items():
            lines.append(key if value is None else f"{key} = {value}")
        lines += ["", "[client]", f"socket = {self.socket}", f"port = {self.port}", ""]
        return "\n".join(lines)
