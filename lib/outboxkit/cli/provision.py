"""Create the databases, users and grants every service of the roster needs, as the server's root.

For a compose stack or a server you run yourself (the native stack does this on every ``stack
up``). Idempotent: run it after ``docker compose up`` and again whenever a service joins the
roster; it also sets each user's password again, so a data directory that outlived its .env is
brought in line. Each service's password is derived from DB_PASSWORD_SECRET unless
<SERVICE>_DB_PASSWORD is set; the CDC user's is CDC_DB_PASSWORD.

Root logs in as DB_ROOT_USER (default root) with DB_ROOT_PASSWORD at DB_HOST:DB_PORT; endpoints and
passwords come from the environment or the file OUTBOXKIT_ENV_FILE names (for compose: .env).
Then each service's tables are created and its schemas registered, as ``<service> migrate`` does
(``--no-tables``: not). ``--print`` shows the SQL with the passwords masked and changes nothing.
"""

from __future__ import annotations

from urllib.parse import quote_plus

from sqlalchemy import create_engine

from outboxkit.base.settings import Settings
from outboxkit.cli import ArgumentParser, run_cli
from outboxkit.service.provisioning import provisioning_statements
from outboxkit.service.roster import service_definitions

PROG = "outboxkit provision-databases"


def provision(print_only: bool, tables: bool) -> int:
    settings = Settings.load()
    definitions = service_definitions()
    statements = provisioning_statements(settings, definitions)
    if print_only:
        for statement in statements:
            masked = statement.split(" IDENTIFIED BY ")[0]
            print(f"{masked}{' IDENTIFIED BY ***' if masked != statement else ''};")
        return 0
    user = settings.get("DB_ROOT_USER", "root")
    url = (
        f"mysql+{settings.db_driver}://{quote_plus(user)}:{quote_plus(settings.get('DB_ROOT_PASSWORD'))}"
        f"@{settings.db_host}:{settings.db_port}/?charset=utf8mb4"
    )
    engine = create_engine(url)
    try:
        # The DB-API cursor itself: a password may hold ':' or '%', which SQLAlchemy or the
        # driver would otherwise read as a parameter.
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            connection.commit()
        finally:
            connection.close()
    finally:
        engine.dispose()
    databases = sorted({d.database_name for d in definitions})
    print(
        f"{PROG}: {len(databases)} databases and their users ready ({', '.join(databases)}); "
        f"the CDC user may read the binlog and write the heartbeats of "
        f"{sum(d.publishes for d in definitions)} outboxes"
    )
    if tables:
        for definition in definitions:
            # As the service's own user: what `<service> migrate` does.
            definition.context(settings, migrate=True).engine.dispose()
            print(f"{PROG}: {definition.group_id}: tables created and schemas registered")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--print",
        action="store_true",
        dest="print_only",
        help="show the SQL (passwords masked) and change nothing",
    )
    parser.add_argument(
        "--no-tables",
        action="store_false",
        dest="tables",
        help="only the databases and users: leave each service's tables and schemas "
        "to its own `migrate` (default: created here too)",
    )
    args = parser.parse_args(argv)
    return run_cli(PROG, lambda: provision(args.print_only, args.tables))


if __name__ == "__main__":
    raise SystemExit(main())
