"""Read model entry point: ``order-view migrate | run | rebuild | dlq | prune-outbox``."""

from __future__ import annotations

import argparse
import time

from outboxkit import (
    Command,
    Envelope,
    Event,
    ServiceContext,
    ServiceDefinition,
    WithEnvelope,
    rebuild_read_model,
    service_main,
)
from outboxkit.cli import confirm
from services import SCHEMAS
from services.order_view import repository
from services.order_view.projection import AGGREGATES, VIEWED_EVENTS
from services.order_view.repository import SqlOrderViewUnitOfWork
from services.order_view.tables import metadata
from services.order_view.unit_of_work import OrderViewUnitOfWork

GROUP = "order-view"


def project(uow: OrderViewUnitOfWork, event: Event, envelope: Envelope) -> None:
    """Apply one event of the order flow to its order's view."""
    view = uow.views.load(event.aggregate_id)
    view.apply(event, envelope)
    uow.views.save(view)


HANDLERS = {cls: WithEnvelope(project) for cls in VIEWED_EVENTS}


def configure_rebuild(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def execute_rebuild(context: ServiceContext[SqlOrderViewUnitOfWork], args: argparse.Namespace) -> int:
    started = time.monotonic()
    rebuilding = rebuild_read_model(
        context,
        GROUP,
        SERVICE.topics,
        clear=lambda uow: repository.clear(uow, context.messaging, GROUP),
        process=lambda: SERVICE.process(context, until_caught_up=True),
        approve=lambda question: confirm(question, args.yes),
    )
    if rebuilding is None:
        print("nothing changed")
        return 1
    counters = rebuilding.runtime.counters
    if not rebuilding.runtime.reached_end:
        print(f"rebuild stopped after {counters.processed} event(s); `order-view run` goes on from there")
        return 1
    seconds = time.monotonic() - started
    print(
        f"rebuilt from {counters.processed} event(s) in {seconds:.1f}s "
        f"({counters.processed / max(seconds, 0.001):.0f}/s; {counters.duplicates} duplicate(s), "
        f"{counters.stale} stale, {counters.dead_lettered} dead-lettered)"
    )
    return 0


SERVICE = ServiceDefinition(
    name="order-view",
    module=__spec__.name,  # not __name__: that is "__main__" under `python -m`
    schemas=SCHEMAS,
    health_port=9104,
    program=GROUP,
    database="query",
    metadata=metadata,
    consumes=list(AGGREGATES),
    handlers=HANDLERS,
    unit_of_work=SqlOrderViewUnitOfWork.factory,
    commands={
        "rebuild": Command(
            "delete the views and rebuild them from the topics (asks first)",
            configure_rebuild,
            execute_rebuild,
        )
    },
    publishes=False,
)


def main(argv: list[str] | None = None) -> int:
    return service_main(SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
