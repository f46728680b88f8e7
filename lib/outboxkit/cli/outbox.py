"""``<service>-service prune-outbox --days N [--yes]``: delete old outbox rows, never unpublished ones."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from typing import Any

from outboxkit.base.errors import UsageError
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.cdc.progress import published_through
from outboxkit.cli import EXIT_OK, confirm, number_argument
from outboxkit.publishing.outbox import plan_prune, prune_outbox
from outboxkit.service.context import ServiceContext
from outboxkit.service.roster import outbox_connectors

log = logging.getLogger(__name__)


positive_days = number_argument(above=0, noun="a number of days", subject="retention ", unit=" days")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days", type=positive_days, default=7.0, help="keep rows younger than this many days (default 7)"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--batch-size", type=int, default=5000, help=argparse.SUPPRESS)


def execute(context: ServiceContext[Any], args: argparse.Namespace) -> int:
    database = context.settings.database_name(context.name)
    connectors = [d for d in outbox_connectors(context.settings) if d.publishes(database)]
    if not connectors:
        raise UsageError(
            f"no outbox connector of the roster captures {database}: nothing says what "
            "was published, so nothing is pruned"
        )
    connector = connectors[0].name
    through = published_through(ConnectClient(context.settings.connect_url), connector)
    table = context.messaging.outbox
    with context.engine.connect() as connection:
        plan = plan_prune(connection, table, timedelta(days=args.days), through)
        print(
            f"{database}.outbox: {plan.total} row(s); {connector} has published everything that "
            f"occurred before {plan.published_through:%Y-%m-%d %H:%M:%S} UTC"
        )
        if plan.kept_unconfirmed:
            print(
                f"  keeping {plan.kept_unconfirmed} row(s) older than {args.days:g} days that the "
                "connector has not confirmed publishing yet"
            )
        if not plan.deletable:
            print(f"  nothing to prune: no row is older than {args.days:g} days and published")
            return EXIT_OK
        print(
            f"  {plan.deletable} row(s) to delete, occurred {plan.oldest:%Y-%m-%d %H:%M:%S} .. "
            f"{plan.newest:%Y-%m-%d %H:%M:%S} UTC"
        )
        if not confirm(f"delete {plan.deletable} outbox row(s) from {database}?", args.yes):
            print("nothing deleted")
            return EXIT_OK
        removed = prune_outbox(
            connection,
            table,
            plan.cutoff,
            args.batch_size,
            on_batch=lambda done: log.info("deleted %d of %d", done, plan.deletable),
        )
    print(f"deleted {removed} outbox row(s) from {database}")
    return EXIT_OK
