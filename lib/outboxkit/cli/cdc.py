"""``outboxkit cdc``: the connector tools an operator reaches for.

    outboxkit cdc status [NAME...] [--json]
                                         streaming? heartbeat age, binlog headroom (exit 3 if unhealthy)
    outboxkit cdc pause|resume NAME... | --all     Kafka Connect's pause/resume
    outboxkit cdc restart NAME... | --all [--failed-only]
    outboxkit cdc offsets NAME... | --all [--json]
                                         committed binlog positions (read from Kafka if Connect is down)
    outboxkit cdc recover NAME... | --all [--since TIME] [--force] [--dry-run] [--yes]
                                         stream again after a purged binlog position, republishing
                                         every outbox row it may have missed (outboxkit.cdc.recovery)
    outboxkit cdc verify NAME [--since TIME] [--until TIME] [--json]
                                         outbox rows against their topics: missing, duplicated,
                                         out of order, keyed wrong (exit 3 if any but duplicates)

Exit codes: 0 done (healthy), 1 a part of the stack is down, 2 a mistake in what was typed,
3 a connector is not healthy, or events are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from outboxkit.base.clock import utc_now
from outboxkit.base.errors import UsageError
from outboxkit.base.settings import Settings
from outboxkit.cdc.binlog import BinlogPosition, describe_duration
from outboxkit.cdc.connect_client import ConnectClient, ConnectError
from outboxkit.cdc.connectors import ConnectorDefinition
from outboxkit.cdc.offsets import committed_offset
from outboxkit.cdc.progress import DEFAULT_STALE_AFTER_S
from outboxkit.cdc.recovery import ConnectorRecovery, RecoveryRefused, database_of
from outboxkit.cdc.status import ConnectorReport, report_connectors
from outboxkit.cdc.verify import PublicationAudit, verify_publication
from outboxkit.cli import EXIT_OK, ArgumentParser, confirm, number_argument, run_cli, utc_time
from outboxkit.service.roster import outbox_connectors

EXIT_UNHEALTHY = 3
PROG = "outboxkit cdc"

positive_seconds = number_argument(above=0, noun="a number of seconds", unit=" seconds")


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0].removeprefix("``outboxkit cdc``: "),
        epilog="exit 0 done, 1 stack unavailable, 2 bad input, 3 unhealthy or missing",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = commands.add_parser("status", help="is each connector streaming, and its binlog headroom")
    status.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: every registered one)")
    status.add_argument("--json", action="store_true", help="one JSON document")
    status.add_argument(
        "--stale-after",
        type=positive_seconds,
        default=DEFAULT_STALE_AFTER_S,
        metavar="SECONDS",
        help=f"a heartbeat older than this is not streaming (default {DEFAULT_STALE_AFTER_S:g})",
    )
    status.add_argument(
        "--warn-below",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="warn when a position has less than this left before it may be purged "
        "(default: CDC_BINLOG_WARN_S, else half the binlog retention)",
    )

    for name, text in (
        ("pause", "pause connectors (tasks stay, read nothing)"),
        ("resume", "resume paused or stopped connectors"),
        ("restart", "restart connectors and their tasks"),
        ("offsets", "the committed binlog position of connectors"),
    ):
        command = commands.add_parser(name, help=text)
        _names(command)
        if name == "restart":
            command.add_argument("--failed-only", action="store_true", help="only the failed tasks")
        if name == "offsets":
            command.add_argument("--json", action="store_true")

    recover = commands.add_parser(
        "recover",
        help="stream again after a purged binlog position, republishing the outbox rows it may have missed",
    )
    _names(recover, "every connector whose position was purged")
    recover.add_argument(
        "--since",
        type=utc_time,
        default=None,
        metavar="TIME",
        help="republish rows that occurred since this time (UTC; default: the "
        "connector's last committed position, less a minute)",
    )
    recover.add_argument(
        "--force", action="store_true", help="recover even though the position is still on the server"
    )
    recover.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    recover.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    recover.add_argument(
        "--timeout",
        type=positive_seconds,
        default=900.0,
        metavar="SECONDS",
        help="give up on a connector after this long (default 900)",
    )

    verify = commands.add_parser(
        "verify", help="outbox rows against their topic: missing, duplicated, out of order"
    )
    verify.add_argument("name", metavar="NAME")
    verify.add_argument(
        "--since",
        type=utc_time,
        default=None,
        metavar="TIME",
        help="rows that occurred since this time (UTC; default: 24 hours ago)",
    )
    verify.add_argument(
        "--until",
        type=utc_time,
        default=None,
        metavar="TIME",
        help="rows that occurred before this time (UTC; default: now)",
    )
    verify.add_argument(
        "--wait",
        type=number_argument(at_least=0, noun="a number of seconds"),
        default=30.0,
        metavar="SECONDS",
        help="keep reading this long while rows are missing (default 30)",
    )
    verify.add_argument(
        "--fail-on-duplicates",
        action="store_true",
        help="exit 3 when a row was published more than once, too",
    )
    verify.add_argument(
        "--show",
        type=number_argument(int, at_least=0, noun="a count"),
        default=20,
        help="list at most this many of each finding (default 20)",
    )
    verify.add_argument("--json", action="store_true")
    return parser


def _names(command: argparse.ArgumentParser, all_means: str = "every registered connector") -> None:
    command.add_argument("names", nargs="*", metavar="NAME")
    command.add_argument("--all", action="store_true", help=all_means)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(PROG, lambda: _dispatch(args), (ConnectError, RecoveryRefused))


def _dispatch(args: argparse.Namespace) -> int:
    settings = Settings.load()
    client = ConnectClient(settings.connect_url)
    commands: dict[str, Callable[[], int]] = {
        "status": lambda: status(settings, args),
        "pause": lambda: act(client, args, "paused", client.pause),
        "resume": lambda: act(client, args, "resumed", client.resume),
        "restart": lambda: act(
            client, args, "restarted", lambda name: client.restart(name, only_failed=args.failed_only)
        ),
        "offsets": lambda: offsets(settings, client, args),
        "recover": lambda: recover(settings, client, args),
        "verify": lambda: verify(settings, args),
    }
    return commands[args.command]()


def _definitions() -> dict[str, ConnectorDefinition]:
    return {d.name: d for d in outbox_connectors()}


def chosen(args: argparse.Namespace, known: list[str]) -> list[str]:
    """The connectors named (each one known), or all of ``known`` with --all."""
    if args.all and args.names:
        raise UsageError("name connectors or pass --all, not both")
    if args.all:
        return known
    if not args.names:
        raise UsageError(f"name a connector ({', '.join(known) or 'none registered'}) or pass --all")
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise UsageError(f"no connector named {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
    return list(dict.fromkeys(args.names))


def status(settings: Settings, args: argparse.Namespace) -> int:
    known = sorted(set(_definitions()))
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise UsageError(f"no connector named {', '.join(unknown)} (known: {', '.join(known)})")
    reports = report_connectors(
        settings, outbox_connectors(), args.names or None, args.stale_after, args.warn_below
    )
    if args.json:
        print(
            json.dumps(
                {"connectors": [r.as_json() for r in reports], "healthy": all(r.healthy for r in reports)},
                indent=2,
            )
        )
    else:
        print_reports(reports)
    return EXIT_OK if reports and all(r.healthy for r in reports) else EXIT_UNHEALTHY


def print_reports(reports: list[ConnectorReport], indent: str = "", stream: TextIO | None = None) -> None:
    """Each report in two lines; an unhealthy one on stderr unless ``stream`` says where."""
    if not reports:
        print(f"{indent}no connectors registered (register-connectors registers them)")
    for report in reports:
        first, second = report.lines()
        out = stream or (sys.stdout if report.healthy else sys.stderr)
        print(f"{indent}{first}", file=out)
        print(f"{indent}  {second}", file=out)


def act(client: ConnectClient, args: argparse.Namespace, done: str, action: Callable[[str], None]) -> int:
    for name in chosen(args, client.connectors()):
        action(name)
        print(f"{name}: {done}")
    return EXIT_OK


def offsets(settings: Settings, client: ConnectClient, args: argparse.Namespace) -> int:
    topic = settings.get("CONNECT_OFFSETS_TOPIC", "connect-offsets")
    try:
        known = client.connectors()
    except ConnectError:
        known = sorted(_definitions())  # Connect is down: its offsets topic still answers
    found = [
        committed_offset(client, name, settings.kafka_bootstrap_servers, topic)
        for name in chosen(args, known)
    ]
    if args.json:
        print(json.dumps({c.connector: {"offset": c.offset, "source": c.source} for c in found}, indent=2))
        return EXIT_OK
    now = datetime.now(UTC)
    for committed in found:
        position = BinlogPosition.from_offset(committed.offset)
        if position is None:
            print(f"{committed.connector}: no committed offset (new, or reset)")
            continue
        when = (
            f"; last event handled {position.handled_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({describe_duration((now - position.handled_at).total_seconds())} ago)"
            if position.handled_at
            else ""
        )
        note = f"; snapshot in progress ({position.snapshot})" if position.snapshot else ""
        source = "" if committed.source == "connect" else f" [read from {committed.source}]"
        print(f"{committed.connector}: {position.describe()}{when}{note}{source}")
    return EXIT_OK


def recover(settings: Settings, client: ConnectClient, args: argparse.Namespace) -> int:
    definitions = _definitions()
    registered = client.connectors()
    if args.all:
        if args.names:
            raise UsageError("name connectors or pass --all, not both")
        reports = report_connectors(
            settings, list(definitions.values()), [n for n in registered if n in definitions]
        )
        names = [r.name for r in reports if r.headroom.verdict == "purged"]
        if not names:
            print("no connector's binlog position was purged: nothing to recover")
            return EXIT_OK
    else:
        names = chosen(args, [n for n in registered if n in definitions])
    recovery = ConnectorRecovery(
        client,
        database_of(settings),
        settings.kafka_bootstrap_servers,
        progress=lambda line: print(line, flush=True),
    )
    plans = [recovery.plan(definitions[name], args.since, args.force) for name in names]
    for plan in plans:
        print(plan.describe())
    if args.dry_run:
        for plan in plans:
            for table in plan.tables:
                print(f"  {plan.connector}: snapshot select: {plan.snapshot_select(table)}")
        return EXIT_OK
    question = f"recover {', '.join(names)} (consumers will see the republished events again)?"
    if not confirm(question, args.yes):
        print("nothing changed")
        return EXIT_OK
    for plan in plans:
        recovery.run(plan, definitions[plan.connector].snapshot_mode, args.timeout)
    print(
        f"recovered {', '.join(names)}; check what was published with `outboxkit cdc verify NAME --since "
        f"{min(p.since for p in plans):%Y-%m-%dT%H:%M:%S}`"
    )
    return EXIT_OK


def verify(settings: Settings, args: argparse.Namespace) -> int:
    definitions = _definitions()
    if args.name not in definitions:
        raise UsageError(f"no connector named {args.name} (known: {', '.join(sorted(definitions))})")
    now = utc_now()
    since = args.since or now - timedelta(days=1)
    until = args.until or now
    if since >= until:
        raise UsageError(
            f"--since ({since:%Y-%m-%d %H:%M:%S}) must be before --until ({until:%Y-%m-%d %H:%M:%S})"
        )
    audit = verify_publication(
        definitions[args.name],
        database_of(settings),
        settings.kafka_bootstrap_servers,
        since,
        until,
        args.wait,
    )
    if args.json:
        print(json.dumps(audit_json(audit), indent=2))
    else:
        print_audit(audit, args.show)
    failed = not audit.complete or (args.fail_on_duplicates and audit.duplicated)
    return EXIT_UNHEALTHY if failed else EXIT_OK


def audit_json(audit: PublicationAudit) -> dict[str, Any]:
    return {
        "connector": audit.connector,
        "since": audit.since.isoformat(),
        "until": audit.until.isoformat(),
        "rows": len(audit.rows),
        "recordsRead": audit.records_read,
        "missing": [
            {
                "id": r.id,
                "topic": r.topic,
                "key": r.key,
                "type": r.event_type,
                "version": r.version,
                "occurredAt": r.occurred_at.isoformat(),
            }
            for r in audit.missing
        ],
        "duplicated": audit.duplicated,
        "outOfOrder": audit.out_of_order,
        "keyedWrong": audit.miskeyed,
        "complete": audit.complete,
    }


def print_audit(audit: PublicationAudit, show: int) -> None:
    print(audit.summary())
    for title, lines in (
        ("missing", [r.describe() for r in audit.missing]),
        (
            "published more than once",
            [f"{event_id}: {n} records" for event_id, n in audit.duplicated.items()],
        ),
        ("out of order", audit.out_of_order),
        ("keyed wrong", audit.miskeyed),
    ):
        if lines:
            print(f"  {title}:")
            for line in lines[:show]:
                print(f"    {line}")
            if len(lines) > show:
                print(f"    ... and {len(lines) - show} more (--show N, or --json)")


if __name__ == "__main__":
    raise SystemExit(main())
