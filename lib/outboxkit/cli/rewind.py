"""``<service> rewind (--to-start | --to-time T) [--topic T] [--past-horizon] [--yes]``: move a
stopped group's committed offsets back, so it reads its topics again from there.

What it reads again is applied once in effect: the inbox skips what it holds receipts for, and
the version guard what is not newer than what was applied. Receipts past the inbox horizon were
pruned (:func:`outboxkit.consuming.inbox.prune_inbox`), so a rewind below it leans on the
version guard alone: the rewind says so and goes on only with ``--past-horizon``.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from outboxkit.base.errors import UsageError
from outboxkit.cli import EXIT_OK, confirm, utc_time
from outboxkit.consuming.inbox import horizons
from outboxkit.kafka.clients import CommittedOffsets, consumer_config, group_member_count, partitions_of
from outboxkit.service.context import ServiceContext


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-start", action="store_true", help="from the first record each partition holds")
    where.add_argument(
        "--to-time",
        type=utc_time,
        metavar="TIME",
        help="from the first record at or after TIME (UTC, ISO 8601)",
    )
    parser.add_argument(
        "--topic",
        action="append",
        metavar="TOPIC",
        help="only this topic of the group (repeatable; default: all it consumes)",
    )
    parser.add_argument(
        "--past-horizon",
        action="store_true",
        help="rewind even below the inbox horizon (the version guard alone then keeps repeats out)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def execute(context: ServiceContext[Any], group: str, consumed: list[str], args: argparse.Namespace) -> int:
    topics = args.topic or consumed
    unknown = [t for t in topics if t not in consumed]
    if unknown:
        raise UsageError(f"{group} does not consume {', '.join(unknown)} (it consumes {', '.join(consumed)})")
    bootstrap = context.settings.kafka_bootstrap_servers
    members = group_member_count(bootstrap, group)
    if members:
        raise UsageError(f"{group} is running ({members} consumer(s)): stop it before a rewind")
    reader = Consumer(consumer_config(bootstrap, group))
    try:
        targets = _targets(reader, topics, args.to_time)
        with CommittedOffsets(bootstrap) as committed:
            current = {(tp.topic, tp.partition): tp.offset for tp in committed.of(group, targets)}
        with context.engine.connect() as connection:
            pruned = horizons(connection, context.messaging.inbox_horizon, group)
        past = [
            (tp, horizon)
            for tp in targets
            if (horizon := pruned.get((tp.topic, tp.partition))) and tp.offset < horizon.below_offset
        ]
        again = sum(max(0, current.get((tp.topic, tp.partition), tp.offset) - tp.offset) for tp in targets)
        start = "their start" if args.to_start else f"{args.to_time:%Y-%m-%d %H:%M:%S} UTC"
        print(f"{group}: rewinding {', '.join(topics)} to {start}: about {again} record(s) read again")
        if past:
            tp, horizon = past[0]
            line = (
                f"{len(past)} partition(s) go past the inbox horizon, e.g. {tp.topic}[{tp.partition}] to "
                f"offset {tp.offset}, whose receipts below offset {horizon.below_offset} were pruned "
                f"(last at {horizon.pruned_at:%Y-%m-%d %H:%M:%S} UTC): the version guard alone keeps "
                "what was applied from applying again"
            )
            if not args.past_horizon:
                raise UsageError(f"{line}; add --past-horizon to rewind anyway")
            print(f"  warning: {line}")
        if not confirm(f"rewind {group}?", args.yes):
            print("nothing rewound")
            return EXIT_OK
        reader.commit(offsets=targets, asynchronous=False)
    finally:
        reader.close()
    print(f"{group}: rewound {len(targets)} partition(s); it reads them again when it next runs")
    return EXIT_OK


def _targets(reader: Consumer, topics: list[str], to_time: datetime | None) -> list[TopicPartition]:
    partitions = partitions_of(reader, topics)
    missing = [t for t in topics if t not in {tp.topic for tp in partitions}]
    if missing:
        raise UsageError(f"topic {', '.join(missing)} does not exist")
    if to_time is None:
        return [
            TopicPartition(tp.topic, tp.partition, reader.get_watermark_offsets(tp, timeout=10)[0])
            for tp in partitions
        ]
    millis = int(to_time.timestamp() * 1000)
    found = reader.offsets_for_times(
        [TopicPartition(tp.topic, tp.partition, millis) for tp in partitions], timeout=15
    )
    # No record at or after the time: the partition's end (offset -1 from the broker).
    return [
        tp
        if tp.offset >= 0
        else TopicPartition(tp.topic, tp.partition, reader.get_watermark_offsets(tp, timeout=10)[1])
        for tp in found
    ]
