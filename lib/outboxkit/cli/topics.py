"""``outboxkit topics``: how a keyed topic's records spread; adding partitions, every key's order kept.

    outboxkit topics skew TOPIC [--sample N] [--json]        records per partition, the hottest keys
    outboxkit topics resize TOPIC --partitions N [--dry-run] [--yes] [--timeout S]
                                                   pause its connectors, drain every group that
                                                   reads it, add the partitions, resume

Exit codes: 0 done, 1 a part of the stack is down, 2 a mistake in what was typed (an unknown
topic, fewer partitions than it has), 3 the groups did not drain in time (nothing changed).
"""

from __future__ import annotations

import argparse
import json

from outboxkit.base.errors import NotFoundError
from outboxkit.base.settings import Settings
from outboxkit.cdc.connect_client import ConnectClient, ConnectError
from outboxkit.cli import EXIT_OK, EXIT_USAGE, ArgumentParser, confirm, fail, number_argument, run_cli
from outboxkit.kafka.partitioning import skew
from outboxkit.operations.resize import ResizeRefused, plan_resize, resize

EXIT_NOT_DRAINED = 3
PROG = "outboxkit topics"


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0].removeprefix("``outboxkit topics``: ")
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    spread = commands.add_parser("skew", help="records per partition and the hottest keys")
    spread.add_argument("topic")
    spread.add_argument(
        "--sample",
        type=number_argument(int, at_least=1, noun="a count"),
        default=2000,
        help="read the newest N records of each partition for the keys (default 2000)",
    )
    spread.add_argument(
        "--timeout",
        type=number_argument(above=0, noun="a number of seconds"),
        default=15.0,
        help="how long the broker may take to answer, and the sampling (default 15)",
    )
    spread.add_argument("--json", action="store_true", help="one JSON document")
    grow = commands.add_parser("resize", help="add partitions without breaking any key's order")
    grow.add_argument("topic")
    grow.add_argument(
        "--partitions", type=number_argument(int, at_least=1, noun="a partition count"), required=True
    )
    grow.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    grow.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    grow.add_argument(
        "--timeout",
        type=number_argument(above=0, noun="a number of seconds"),
        default=300.0,
        help="how long the groups may take to drain (default 300)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(PROG, lambda: _dispatch(args), (ConnectError, NotFoundError))


def _dispatch(args: argparse.Namespace) -> int:
    settings = Settings.load()
    try:
        if args.command == "skew":
            found = skew(settings.kafka_bootstrap_servers, args.topic, args.sample, args.timeout)
            print(json.dumps(found.as_json(), indent=2) if args.json else "\n".join(found.lines()))
            return EXIT_OK
        connect = ConnectClient(settings.connect_url)
        plan = plan_resize(settings.kafka_bootstrap_servers, connect, args.topic, args.partitions)
        print(plan.describe())
        if args.dry_run:
            return EXIT_OK
        if not confirm(
            f"resize {args.topic} to {args.partitions} partitions (its writers pause meanwhile)?", args.yes
        ):
            print("nothing changed")
            return EXIT_OK
        paused = resize(
            plan,
            settings.kafka_bootstrap_servers,
            connect,
            args.timeout,
            progress=lambda line: print(line, flush=True),
        )
        print(f"{args.topic} has {args.partitions} partitions; its writers were paused for {paused:.1f}s")
        return EXIT_OK
    except ResizeRefused as refused:
        message = str(refused)
        return fail(PROG, message, EXIT_NOT_DRAINED if "did not drain" in message else EXIT_USAGE)


if __name__ == "__main__":
    raise SystemExit(main())
