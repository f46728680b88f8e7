"""Create or update the Debezium outbox connectors and wait until they run.

For each outbox connector of the roster (outboxkit/cdc/outbox_connector.json filled in for each
service with an outbox): check the database can feed Debezium (binlog on, ROW format, FULL row
image, server_id, the CDC user's grants, the outbox table),
pick the MariaDB or MySQL connector class from the server's version, PUT the config (create or
update: running it twice is harmless), and wait until the connector and all its tasks are
RUNNING. Exit codes: 0 all running, 1 Connect refused or a connector FAILED (its trace is
printed), 2 a database check failed (each failed check is named) or bad arguments.

``--status`` changes nothing: it reports whether each registered connector is really streaming
(task RUNNING *and* a heartbeat younger than ``--stale-after`` seconds) and how long its binlog
position is safe, and exits 3 if one is not healthy (the same report as ``outboxkit cdc status``; ``--json``
for a machine). ``--dry-run`` reaches nothing: it prints, as JSON, the configs it would send to a
``--server`` of that kind.

Endpoints and credentials come from the environment and the env file OUTBOXKIT_ENV_FILE names.
"""

from __future__ import annotations

import argparse
import json
import sys

from confluent_kafka.admin import AclBinding  # type: ignore[attr-defined]

from outboxkit.base.settings import Settings
from outboxkit.cdc.connect_client import ConnectClient, ConnectError, ConnectUnavailableError
from outboxkit.cdc.connectors import (
    HEARTBEAT_TABLE,
    OUTBOX_TABLE,
    ConnectorDefinition,
    Deployment,
    connect_kafka_login,
    effective_config,
    routed_topics,
)
from outboxkit.cdc.offsets import DEFAULT_OFFSETS_TOPIC, keep_offsets_topic_compact
from outboxkit.cdc.preflight import CheckResult, database_checks, read_facts, server_checks
from outboxkit.cdc.progress import DEFAULT_STALE_AFTER_S
from outboxkit.cdc.recovery import ConnectorRecovery, Database
from outboxkit.cdc.status import report_connectors
from outboxkit.cli import ArgumentParser, number_argument, run_cli
from outboxkit.cli.cdc import print_reports
from outboxkit.kafka.clients import admin_client, ensure_topics
from outboxkit.kafka.preflight import check_cluster
from outboxkit.service.access import all_grants
from outboxkit.service.roster import (
    PER_SERVER,
    PER_SERVICE,
    SERVER_CONNECTOR_ENV,
    connector_layout,
    outbox_connectors,
    schema_catalog,
)

EXIT_NOT_STREAMING = 3


positive = number_argument(above=0)


def key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


PROG = "outboxkit register-connectors"


def parse_args(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--connect-url", default=settings.connect_url)
    parser.add_argument(
        "--db-host", default=settings.db_host, help="database host as this script reaches it (for the checks)"
    )
    parser.add_argument("--db-port", type=int, default=settings.db_port)
    parser.add_argument(
        "--connect-db-host",
        default=settings.get("CONNECT_DB_HOST", ""),
        help="database host as Connect reaches it (default: --db-host)",
    )
    parser.add_argument(
        "--connect-db-port",
        type=int,
        default=int(settings.get("CONNECT_DB_PORT", "0")),
        help="database port as Connect reaches it (default: --db-port)",
    )
    parser.add_argument(
        "--connect-kafka-bootstrap",
        default=settings.get("CONNECT_KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers),
        help="Kafka bootstrap servers as Connect reaches them",
    )
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="register only this connector (repeatable)"
    )
    parser.add_argument(
        "--set",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="override a connector setting for this registration (repeatable), e.g. "
        "exactly.once.support=requested on workers without exactly-once support",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the configs it would send (JSON, passwords hidden) and reach nothing: no "
        "database, no Connect",
    )
    parser.add_argument(
        "--server",
        choices=("mariadb", "mysql"),
        default="mariadb",
        help="--dry-run: the kind of database server the configs are for (default mariadb; a "
        "registration asks the server itself)",
    )
    parser.add_argument(
        "--drop-outboxes",
        action="store_true",
        help="let a registered connector stop capturing outboxes this roster no longer lists "
        "(refused otherwise: another roster may share the connector's name)",
    )
    parser.add_argument("--json", action="store_true", help="--status: one JSON document")
    parser.add_argument(
        "--timeout", type=positive, default=120.0, help="seconds to wait for each connector to run"
    )
    parser.add_argument(
        "--check-kafka",
        action="store_true",
        help="only check the Kafka cluster (replication, in-sync replicas, topics, ACLs) and "
        "name what is missing (exit 2)",
    )
    parser.add_argument(
        "--check-database",
        action="store_true",
        help="only check the database server can feed Debezium (binlog, GTIDs, retention, the CDC "
        "user's grants, each outbox table) and name what is missing (exit 2): the preflight where "
        "something else registers the connectors (Strimzi's KafkaConnector resources)",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="only report whether each registered connector is streaming (exit 3 if not)",
    )
    parser.add_argument(
        "--stale-after",
        type=positive,
        default=DEFAULT_STALE_AFTER_S,
        metavar="SECONDS",
        help=f"--status: a heartbeat older than this means not streaming (default {DEFAULT_STALE_AFTER_S:g})",
    )
    return parser.parse_args(argv)


def report_streaming(settings: Settings, args: argparse.Namespace) -> int:
    reports = report_connectors(settings, outbox_connectors(), args.only, args.stale_after)
    if args.json:
        print(json.dumps({"connectors": [r.as_json() for r in reports]}, indent=2))
    else:
        print_reports(reports)
    return 0 if reports and all(r.healthy for r in reports) else EXIT_NOT_STREAMING


HIDDEN = "********"


def is_secret(key: str, value: str) -> bool:
    """A password written into the config, not a reference Connect resolves on its side
    (``${env:CDC_DB_PASSWORD}``, ``${file:...}``), which is safe to show and says where it comes from."""
    return "password" in key.lower() and not (value.startswith("${") and value.endswith("}"))


def dry_run(definitions: list[ConnectorDefinition], deployment: Deployment, args: argparse.Namespace) -> int:
    """The configs as they would be sent, reaching nothing (a literal password hidden: this goes
    to a terminal or a CI log)."""
    configs = []
    for d in definitions:
        config = {**effective_config(d, deployment, args.server == "mariadb"), **dict(args.set)}
        shown = {key: HIDDEN if is_secret(key, value) else value for key, value in config.items()}
        configs.append({"name": d.name, "config": shown})
    print(json.dumps(configs, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, lambda: register(argv), (ConnectError,))


def register(argv: list[str] | None) -> int:
    settings = Settings.load()
    args = parse_args(argv, settings)
    if args.status:
        return report_streaming(settings, args)
    if args.check_kafka:
        return 0 if check_kafka(settings, always=True) else 2
    deployment = Deployment(
        db_host=args.connect_db_host or args.db_host,
        db_port=args.connect_db_port or args.db_port,
        kafka_bootstrap_servers=args.connect_kafka_bootstrap,
        kafka_login=connect_kafka_login(settings),
    )
    try:
        definitions = [d for d in outbox_connectors() if not args.only or d.name in args.only]
    except (ValueError, FileNotFoundError) as exc:
        print(f"connector definitions: {exc}", file=sys.stderr)
        return 2
    if not definitions:
        known = ", ".join(d.name for d in outbox_connectors())
        print(f"{PROG}: error: no connector named {', '.join(args.only)} (known: {known})", file=sys.stderr)
        return 2
    if args.dry_run:
        return dry_run(definitions, deployment, args)
    if args.check_database:
        return 0 if databases_ready(args, settings.get("CDC_DB_PASSWORD"), definitions) else 2
    create_routed_topics(settings, max(d.topic_partitions for d in definitions))
    offsets_topic = settings.get("CONNECT_OFFSETS_TOPIC", DEFAULT_OFFSETS_TOPIC)
    print(f"== {keep_offsets_topic_compact(settings.kafka_bootstrap_servers, offsets_topic)}")
    if not check_kafka(settings, always=False):
        print(
            "the Kafka cluster is not ready for the outbox's events; fix what is named above "
            "(`--check-kafka` checks again)",
            file=sys.stderr,
        )
        return 2
    client = ConnectClient(args.connect_url)
    replaced_all: list[str] = []
    password = settings.get("CDC_DB_PASSWORD")
    for definition in definitions:
        print(f"== {definition.name} -> {', '.join(definition.outboxes)}")
        ready = database_ready(args, password, definition)
        if ready is None:
            return 2
        is_mariadb = ready
        config = {**effective_config(definition, deployment, is_mariadb), **dict(args.set)}
        dropped = [] if args.drop_outboxes else dropped_outboxes(client, definition)
        if dropped:
            print(
                f"{PROG}: error: connector {definition.name} captures {', '.join(dropped)}, which "
                f"this roster does not publish: if another roster shares this Connect cluster, give "
                f"this one a connector of its own ({SERVER_CONNECTOR_ENV}=...); if the services "
                "left, pass --drop-outboxes",
                file=sys.stderr,
            )
            return 2
        try:
            replaced = replaced_by(client, settings, definition)
            if replaced:
                take_over(
                    client,
                    Database(args.db_host, args.db_port, password),
                    settings,
                    definition,
                    replaced,
                    config,
                    args.timeout,
                )
                replaced_all += [name for name in replaced if name not in replaced_all]
                continue
            if _registered_as(client, definition.name, config):
                # A PUT of the same config still restarts it and rebalances the worker's others.
                print(f"  {definition.name} is registered with this config already; waiting for RUNNING")
            else:
                created = client.put_config(definition.name, config)
                print(
                    f"  {'created' if created else 'updated'} {definition.name} "
                    f"({config['connector.class'].rsplit('.', 1)[-1]}); waiting for RUNNING"
                )
            client.wait_until_running(
                definition.name,
                args.timeout,
                on_progress=lambda s: print(f"  {s.describe() if s else 'not visible yet'}"),
            )
        except ConnectUnavailableError:
            raise  # one line from run_cli: Connect is down, not the connector failed
        except ConnectError as exc:
            if "does not have exactly-once source support enabled" in str(exc):
                print(
                    f"{definition.name}: Kafka Connect's workers run without exactly-once source support "
                    "(exactly.once.source.support; CONNECT_EXACTLY_ONCE=false?), which the connector "
                    "requires; enable it, or register with --set exactly.once.support=requested",
                    file=sys.stderr,
                )
                return 1
            print(f"{definition.name} FAILED:\n{exc}", file=sys.stderr)
            return 1
    for name in replaced_all:
        # Its offsets go first: a connector of that name registered again later must not resume
        # at a position the binlog may have purged by then.
        client.reset_offsets(name)
        client.delete(name)
        print(f"== {name}: taken over, its offsets reset and the connector deleted")
    # A later registration rebalances the worker: the earlier ones pass through UNASSIGNED.
    for definition in definitions:
        client.wait_until_running(definition.name, args.timeout)
    return 0


def database_ready(args: argparse.Namespace, password: str, definition: ConnectorDefinition) -> bool | None:
    """The checks of the server and databases ``definition`` captures, printed; None when one
    failed (each is named), else whether the server is MariaDB."""
    try:
        checks, is_mariadb = check_databases(args.db_host, args.db_port, password, definition)
    except ConnectionError as exc:
        print(f"[FAILED] database connection: {exc}", file=sys.stderr)
        return None
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(
            f"{definition.name}: the database server at {args.db_host}:{args.db_port} is not ready "
            f"for CDC; fix: {', '.join(failed)}",
            file=sys.stderr,
        )
        return None
    return is_mariadb


def databases_ready(args: argparse.Namespace, password: str, definitions: list[ConnectorDefinition]) -> bool:
    ready = True
    for definition in definitions:
        print(f"== {definition.name} -> {', '.join(definition.outboxes)}")
        ready = database_ready(args, password, definition) is not None and ready
    if ready:
        print("the database server can feed every outbox connector")
    return ready


def check_databases(
    host: str, port: int, password: str, definition: ConnectorDefinition
) -> tuple[list[CheckResult], bool]:
    """The server's checks once, then each captured database's, printed as they come; and whether
    the server is MariaDB (which picks the connector class)."""
    heartbeat_database = definition.heartbeat_table.split(".", 1)[0] if definition.heartbeat_table else None
    checks: list[CheckResult] = []
    is_mariadb = True
    for index, outbox in enumerate(definition.outboxes):
        database, table = outbox.split(".", 1)
        facts = read_facts(host, port, definition.database_user, password, database)
        found = []
        if index == 0:
            is_mariadb = facts.is_mariadb
            print(
                f"  server: {facts.version} ({'MariaDB' if facts.is_mariadb else 'MySQL'}: "
                f"{'MariaDbConnector' if facts.is_mariadb else 'MySqlConnector'})"
            )
            found += server_checks(facts)
        heartbeat = HEARTBEAT_TABLE if database == heartbeat_database else None
        found += database_checks(facts, database, table, heartbeat)
        for check in found:
            print(f"  {check}", file=sys.stdout if check.ok else sys.stderr)
        checks += found
    return checks, is_mariadb


def replaced_by(client: ConnectClient, settings: Settings, definition: ConnectorDefinition) -> list[str]:
    """Registered connectors of the other layout (``CDC_CONNECTORS``) that publish an outbox
    ``definition`` publishes, when ``definition`` itself is not registered yet: it takes over
    from them."""
    registered = client.connectors()
    if definition.name in registered:
        return []
    other = PER_SERVICE if connector_layout(settings) == PER_SERVER else PER_SERVER
    return [
        d.name
        for d in outbox_connectors(settings, layout=other)
        if d.name in registered and set(d.outboxes) & set(definition.outboxes)
    ]


def take_over(
    client: ConnectClient,
    database: Database,
    settings: Settings,
    definition: ConnectorDefinition,
    replaced: list[str],
    config: dict[str, str],
    timeout_s: float,
) -> None:
    """Switch layouts without losing a row: stop the connectors being replaced, then start the
    new one with a filtered, ordered snapshot of every outbox row since the earliest position
    they confirmed (the recovery's way, :mod:`outboxkit.cdc.recovery`), then stream. What was
    already published comes again; the consumers' inboxes absorb it."""
    for name in replaced:
        state = client.state(name)
        if state is not None and state.connector_state != "STOPPED":
            print(f"  stopping {name} (it publishes outboxes {definition.name} takes over)")
            client.stop(name)
            client.wait_for_state(name, "STOPPED", 60)
    recovery = ConnectorRecovery(
        client,
        database,
        settings.kafka_bootstrap_servers,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    plan = recovery.takeover_plan(definition, replaced)
    print(f"  {plan.describe()}")
    recovery.run(plan, definition.snapshot_mode, timeout_s, config=config)


def dropped_outboxes(client: ConnectClient, definition: ConnectorDefinition) -> list[str]:
    """The outboxes the registered connector of this name captures that ``definition`` would no
    longer capture: a registration must not silently take another roster's outboxes away."""
    if definition.name not in client.connectors():
        return []
    stored = client.config(definition.name).get("table.include.list", "")
    wanted = set(definition.outboxes)
    captured = [entry.strip() for entry in stored.split(",")]
    return [t for t in captured if t.endswith(f".{OUTBOX_TABLE}") and t not in wanted]


def _registered_as(client: ConnectClient, name: str, config: dict[str, str]) -> bool:
    if name not in client.connectors():
        return False
    stored = {key: value for key, value in client.config(name).items() if key != "name"}
    return stored == {key: str(value) for key, value in config.items()}


def check_kafka(settings: Settings, always: bool) -> bool:
    """The cluster's readiness (outboxkit/kafka/preflight.py). A single broker is a development
    stack: it is checked only when asked (``always``), and said in one line otherwise."""
    partitions = max(d.topic_partitions for d in outbox_connectors())
    topics = routed_topics(schema_catalog())
    brokers = len(admin_client(settings.kafka_bootstrap_servers).list_topics(timeout=15).brokers)
    if brokers < 2 and not always:
        print(f"== kafka: {brokers} broker (a development stack); --check-kafka lists what production needs")
        return True
    grants = expected_grants() if settings.kafka_security else []
    print(f"== kafka: {brokers} brokers at {settings.kafka_bootstrap_servers}")
    checks = check_cluster(settings.kafka_bootstrap_servers, topics, partitions, grants)
    for check in checks:
        print(f"  {check}", file=sys.stdout if check.ok else sys.stderr)
    return all(check.ok for check in checks)


def expected_grants() -> list[AclBinding]:
    """The ACLs the roster's principals need (outboxkit/service/access.py)."""
    return [binding for grant in all_grants() for binding in grant.bindings()]


def create_routed_topics(settings: Settings, partitions: int) -> None:
    topics = routed_topics(schema_catalog())
    created = ensure_topics(settings.kafka_bootstrap_servers, topics, partitions)
    print(
        f"== topics {', '.join(topics)}: "
        + (f"created {', '.join(created)} ({partitions} partitions)" if created else "all exist")
    )


if __name__ == "__main__":
    raise SystemExit(main())
