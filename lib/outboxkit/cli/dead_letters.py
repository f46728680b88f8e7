"""``<service>-service dlq list | show | reinject | purge``: a group's dead letters.

Each service owns its group's dead letters (they live in its database and its ``<group>.dlq``
topic), so the commands hang off the service's own command line.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from outboxkit.base.clock import utc_now
from outboxkit.base.errors import UsageError
from outboxkit.cli import EXIT_OK, confirm
from outboxkit.dead_letters.queue import DeadLetterRow, DeadLetterStore
from outboxkit.dead_letters.tools import DeadLetterTools, age
from outboxkit.kafka.replay import jsonable
from outboxkit.serialization.avro import AvroEventDeserializer, UndecodableRecordError
from outboxkit.serialization.schema_registry import SchemaRegistryError
from outboxkit.service.context import ServiceContext


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="pending dead letters, grouped by error, and parked keys")
    listing.add_argument("--json", action="store_true", help="one JSON object per pending record")
    show = commands.add_parser("show", help="one dead letter, decoded, with its headers")
    show.add_argument("reference", help="an event id, or a # from `dlq list`")
    for name, text in (
        ("reinject", "send dead letters back to this group (oldest first, per key)"),
        ("purge", "forget dead letters for good (they will never be applied)"),
    ):
        command = commands.add_parser(name, help=text)
        which = command.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="every pending dead letter")
        which.add_argument("--key", help="the pending records of this record key (an aggregate id)")
        which.add_argument(
            "--event-id",
            dest="reference",
            metavar="EVENT_ID",
            help="this event (an event id or a # from `dlq list`)"
            + (" and the rest of its key's queue" if name == "reinject" else ""),
        )
        if name == "reinject":
            command.add_argument(
                "--dry-run", action="store_true", help="say what would be sent; send nothing"
            )
        else:
            command.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def execute(context: ServiceContext[Any], group_id: str, args: argparse.Namespace) -> int:
    tools = DeadLetterTools(
        context.engine,
        DeadLetterStore(context.messaging.dead_letters, group_id),
        context.settings.kafka_bootstrap_servers,
    )
    if args.dlq_command == "list":
        return _list(tools, args.json)
    if args.dlq_command == "show":
        return _show(tools, context, args.reference)
    rows, chosen = tools.select(
        key=args.key,
        reference=args.reference,
        everything=args.all,
        whole_queue=args.dlq_command == "reinject",
    )
    if not rows:
        print(f"{group_id} has no pending dead letters")
        return EXIT_OK
    if args.dlq_command == "reinject":
        return _reinject(tools, rows, chosen, args.dry_run)
    return _purge(tools, rows, chosen, args.yes)


def _row_line(row: DeadLetterRow, now: datetime) -> str:
    return (
        f"  #{row.id:<5} key {row.record_key or '-':<36} {row.event_type or '?':<16} "
        f"event {row.event_id or '-':<36} from {row.source}  {age(row.first_failed_at, now)} ago  "
        f"tries {row.attempts}  re-injected {row.reinjected}x"
    )


def _list(tools: DeadLetterTools, as_json: bool) -> int:
    rows = tools.pending()
    if as_json:
        for row in rows:
            print(json.dumps({**jsonable(vars(row)), "source": str(row.source)}))
        return EXIT_OK
    if not rows:
        print(f"{tools.group}: no pending dead letters ({tools.topic})")
        return EXIT_OK
    now = utc_now()
    keys = {row.record_key for row in rows}
    print(f"{tools.group}: {len(rows)} pending dead letter(s) on {len(keys)} key(s) ({tools.topic})")
    failed = [row for row in rows if not row.parked]
    by_error: dict[str, list[DeadLetterRow]] = defaultdict(list)
    for row in failed:
        by_error[row.error_class].append(row)
    for error_class, group in sorted(by_error.items(), key=lambda item: -len(item[1])):
        print(f"\n{error_class}: {len(group)} record(s)")
        for row in group:
            print(_row_line(row, now))
            print(f"         {row.error_message.splitlines()[0][:160]}")
    parked = [row for row in rows if row.parked]
    if parked:
        queues: dict[str | None, list[DeadLetterRow]] = defaultdict(list)
        for row in parked:
            queues[row.record_key].append(row)
        print(f"\nparked keys: {len(queues)} (later records waiting behind a dead letter of their key)")
        heads = {row.record_key: row for row in reversed(rows)}
        for key, waiting in queues.items():
            head = heads[key]
            print(f"  key {key}: {len(waiting)} record(s) behind #{head.id} {head.describe()}")
            for row in waiting:
                print(f"    #{row.id} {row.describe()}  parked {age(row.first_failed_at, now)} ago")
    print(
        f"\nre-inject after the fix: {tools.group.removesuffix('-service')}-service dlq reinject "
        "--all | --key KEY | --event-id ID [--dry-run]"
    )
    return EXIT_OK


def _show(tools: DeadLetterTools, context: ServiceContext[Any], reference: str) -> int:
    with tools.engine.connect() as connection:
        row = tools.store.by_event_or_id(connection, reference)
    if row is None:
        raise UsageError(f"{tools.group} has no pending dead letter {reference}")
    print(json.dumps({**jsonable(vars(row)), "source": str(row.source)}, indent=2))
    copy = tools.copies([row]).get(row.id)
    if copy is None:
        print(f"(its copy at {tools.topic}[{row.dlq_partition}]@{row.dlq_offset} is no longer in the topic)")
        return EXIT_OK
    print(f"record at {tools.topic}[{row.dlq_partition}]@{row.dlq_offset}, key {row.record_key}")
    print("headers: " + json.dumps(copy.headers, indent=2))
    try:
        decoded = AvroEventDeserializer(context.registry, context.catalog).deserialize(copy.value)
        print(
            f"value ({decoded.fullname}, schema id {decoded.schema_id}): "
            + json.dumps(jsonable(decoded.value), indent=2)
        )
    except (UndecodableRecordError, SchemaRegistryError) as exc:
        raw = copy.value or b""
        print(f"value does not decode ({exc}); {len(raw)} bytes: {raw[:64]!r}")
    return EXIT_OK


def _reinject(tools: DeadLetterTools, rows: list[DeadLetterRow], chosen: str, dry_run: bool) -> int:
    print(f"{'would re-inject' if dry_run else 're-injecting'} {chosen} into {tools.retry_topic}")
    sent, missing = tools.reinject(rows, dry_run=dry_run)
    for item in sent:
        where = "" if dry_run else f" -> {tools.retry_topic}[{item.partition}]@{item.offset}"
        print(f"  #{item.row.id} {item.row.describe()} key {item.row.record_key}{where}")
    for row in missing:
        print(
            f"  #{row.id} {row.describe()}: its copy at {tools.topic}[{row.dlq_partition}]@"
            f"{row.dlq_offset} is gone; nothing sent for key {row.record_key}"
        )
    verb = "would re-inject" if dry_run else "re-injected"
    print(
        f"{verb} {len(sent)} record(s) from {tools.topic}"
        + (f"; {len(missing)} could not be found" if missing else "")
    )
    return EXIT_OK if not missing else 1


def _purge(tools: DeadLetterTools, rows: list[DeadLetterRow], chosen: str, assume_yes: bool) -> int:
    for row in rows:
        print(f"  #{row.id} {row.describe()} key {row.record_key}: {row.error_message.splitlines()[0][:100]}")
    if not confirm(f"purge {chosen} of {tools.group}? They will never be applied", assume_yes):
        print("nothing purged")
        return EXIT_OK
    print(f"purged {tools.purge(rows)} dead letter(s) of {tools.group}")
    return EXIT_OK
