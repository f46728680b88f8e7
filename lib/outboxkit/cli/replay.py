"""``outboxkit replay TOPIC... [--follow] [--key KEY] [--type T] [--partition N] [--from-offset N |
--from-time TIME] [--json]``: print a topic's events, decoded.

Reads from the beginning (or from an offset, or from a time) with a throwaway consumer and never
commits, so it cannot disturb the services. Exit 0 once the end of every topic is reached, 1 when
a part of the stack is down or did not answer (or the end was not reached) within ``--timeout``,
2 for an unknown topic, partition or event type, 130 on Ctrl-C (``--follow`` ends that way,
after the count of what it printed).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import UTC

from outboxkit.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    ArgumentParser,
    number_argument,
    run_cli,
    utc_time,
)
from outboxkit.kafka.replay import EventTap, format_event
from outboxkit.service.roster import schema_catalog

PROG = "outboxkit replay"

non_negative_int = number_argument(int, at_least=0, noun="a whole number")
positive_seconds = number_argument(
    above=0, noun="a number of seconds", subject="the timeout ", unit=" seconds"
)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("topics", nargs="+", help="topics to read, e.g. <aggregate>.events")
    parser.add_argument("--follow", action="store_true", help="keep reading new events until Ctrl-C")
    parser.add_argument("--key", help="only events with this record key (an aggregate id)")
    parser.add_argument(
        "--type",
        action="append",
        dest="types",
        metavar="EVENT_TYPE",
        help="only events of this type (repeatable)",
    )
    parser.add_argument(
        "--partition",
        action="append",
        type=non_negative_int,
        dest="partitions",
        metavar="N",
        help="only this partition (repeatable)",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--from-offset",
        type=non_negative_int,
        metavar="N",
        help="start at this offset in each partition read",
    )
    start.add_argument(
        "--from-time",
        type=utc_time,
        metavar="TIME",
        help="start at the first record written at or after this time (ISO 8601, UTC "
        "unless it says otherwise)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        help="give up waiting for the broker, or for the end of the topics, after this many "
        "seconds (default 30)",
    )
    args = parser.parse_args(argv)
    if args.types:
        known = sorted(schema.event_type for schema in schema_catalog())
        unknown = [t for t in args.types if t not in known]
        if unknown:
            parser.error(f"no event type {', '.join(unknown)} (known: {', '.join(known)})")
    return run_cli(PROG, lambda: _replay(args), (LookupError,))


def _replay(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    count = 0
    interrupted = threading.Event()
    since = args.from_time.replace(tzinfo=UTC) if args.from_time else None
    with EventTap(
        args.topics,
        catalog=schema_catalog(),
        must_exist=True,
        since=since,
        partitions=args.partitions,
        from_offset=args.from_offset,
        key=args.key,
        keep=False,
        timeout_s=args.timeout,
    ) as tap:
        # Once reading: a flag, not KeyboardInterrupt (one raised inside a Kafka client callback
        # can be swallowed there, and --follow would never end).
        signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())
        while not interrupted.is_set() and (
            args.follow or (not tap.at_end() and time.monotonic() < deadline)
        ):
            for event in tap.poll():
                if (args.key is None or event.key == args.key) and (
                    not args.types or event.event_type in args.types
                ):
                    print(format_event(event, args.json), flush=True)
                    count += 1
            while tap.undecodable:
                topic, partition, offset, error = tap.undecodable.pop(0)
                print(f"{topic}[{partition}]@{offset} UNDECODABLE: {error}", file=sys.stderr)
        if interrupted.is_set():
            print(f"-- {count} events", file=sys.stderr)
            return EXIT_INTERRUPTED
        reached_end = tap.at_end()
    print(f"-- {count} events", file=sys.stderr)
    if not reached_end:
        print(
            f"replay: error: the end of {', '.join(args.topics)} was not reached within "
            f"{args.timeout:g}s (--timeout)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
