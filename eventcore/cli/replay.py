"""``replay TOPIC... [--follow] [--key ORDER_ID] [--json]``: print a topic's events, decoded.

Reads from the beginning with a throwaway consumer group and never commits, so it cannot
disturb the services. Exit 0 once the end of every topic is reached (or on Ctrl-C with
``--follow``), 1 when a part of the stack is down or the end was not reached in ``--timeout``,
2 for an unknown topic.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from eventcore.cli import EXIT_OK, EXIT_UNAVAILABLE, ArgumentParser, number_argument, run_cli
from eventcore.replay import EventTap, format_event

positive_seconds = number_argument(above=0, noun="a number of seconds", subject="the timeout ",
                                   unit=" seconds")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("topics", nargs="+", help="e.g. order.events inventory.events")
    parser.add_argument("--follow", action="store_true", help="keep reading new events until Ctrl-C")
    parser.add_argument("--key", help="only events with this record key (orderId)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--timeout", type=positive_seconds, default=30.0,
                        help="give up waiting for the end of the topics after this many seconds")
    args = parser.parse_args(argv)
    return run_cli("replay", lambda: _replay(args), (LookupError,))


def _replay(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    count = 0
    interrupted = threading.Event()
    if args.follow:
        # A flag, not KeyboardInterrupt: an interrupt raised inside a Kafka client callback can be
        # swallowed there, and --follow would never end.
        signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())
    with EventTap(args.topics, must_exist=True) as tap:
        while not interrupted.is_set() and (
                args.follow or (not tap.at_end() and time.monotonic() < deadline)):
            for event in tap.poll():
                if args.key is None or event.key == args.key:
                    print(format_event(event, args.json), flush=True)
                    count += 1
            while tap.undecodable:
                topic, partition, offset, error = tap.undecodable.pop(0)
                print(f"{topic}[{partition}]@{offset} UNDECODABLE: {error}", file=sys.stderr)
        if interrupted.is_set():
            print(f"-- {count} events", file=sys.stderr)
            return EXIT_OK
        reached_end = tap.at_end()
    print(f"-- {count} events", file=sys.stderr)
    if not reached_end:
        print(f"replay: error: the end of {', '.join(args.topics)} was not reached within "
              f"{args.timeout:g}s (--timeout)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
