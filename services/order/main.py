"""Order service entry point: ``order-service migrate | run | place | cancel | saga | dlq | prune-outbox``."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from confluent_kafka import KafkaException

from outboxkit import (
    Command,
    Hop,
    PeriodicJob,
    SagaInstance,
    ServiceContext,
    ServiceDefinition,
    UsageError,
    service_main,
)
from outboxkit.ops import PipelineLag, heartbeat_topic, outbox_connectors
from services import SCHEMAS
from services.contracts import FLOWS
from services.order import repository
from services.order.commands import (
    HANDLERS,
    cancel_order,
    cancel_timed_out,
    deadlines_passed,
    expire_overdue_steps,
    place_order,
)
from services.order.domain import InvalidOrderError, Order, OrderLine, TransitionRefused
from services.order.orchestration import SagaState, order_saga
from services.order.repository import SqlOrderUnitOfWork
from services.order.settings import OrderSettings
from services.order.tables import metadata

log = logging.getLogger("order")


def parse_line(text: str) -> OrderLine:
    """``SKU:QTY:UNIT_PRICE_CENTS`` -> OrderLine."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"line {text!r} is not SKU:QUANTITY:UNIT_PRICE_CENTS")
    try:
        return OrderLine(parts[0], int(parts[1]), int(parts[2]))
    except ValueError as exc:  # InvalidOrderError is a ValueError too
        reason = exc if isinstance(exc, InvalidOrderError) else "quantity and price must be whole numbers"
        raise argparse.ArgumentTypeError(f"line {text!r}: {reason}") from None


def configure_place(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customer", required=True)
    parser.add_argument(
        "--line",
        dest="lines",
        action="append",
        type=parse_line,
        required=True,
        help="SKU:QUANTITY:UNIT_PRICE_CENTS (repeatable)",
    )
    parser.add_argument("--currency", default="EUR")
    parser.add_argument(
        "--flow",
        choices=FLOWS,
        default=None,
        help="the saga style that drives this order (default: ORDER_SAGA_FLOW, else choreographed)",
    )
    parser.add_argument(
        "--points",
        type=points_argument,
        default=0,
        help="points the customer redeems (one point is worth one cent; at most the total)",
    )


def points_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"points cannot be negative, got {value}")
    return value


def units_of_work(context: ServiceContext[Any]) -> Callable[[], SqlOrderUnitOfWork]:
    saga = order_saga(OrderSettings.read(context.settings).step_timeout_s)
    return lambda: SqlOrderUnitOfWork(context.engine, context.outbox, saga)


def execute_place(context: ServiceContext[SqlOrderUnitOfWork], args: argparse.Namespace) -> int:
    flow = args.flow or OrderSettings.read(context.settings).saga_flow
    order = place_order(
        context.uow_factory, args.customer, args.lines, args.currency, flow=flow, points=args.points
    )
    print(order.id)
    return 0


def configure_cancel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    parser.add_argument("--reason", default="cancelled by customer")


def execute_cancel(context: ServiceContext[SqlOrderUnitOfWork], args: argparse.Namespace) -> int:
    try:
        order = cancel_order(context.uow_factory, args.order_id, args.reason)
    except TransitionRefused as refused:
        raise UsageError(
            f"order {args.order_id} cannot be cancelled: it is {refused.current.value}"
        ) from None
    print(order.status)
    return 0


def configure_saga(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    parser.add_argument("--json", action="store_true", help="one JSON document")


def saga_json(order: Order, instance: SagaInstance[SagaState] | None, history: list[Any]) -> dict[str, Any]:
    saga: dict[str, Any] | None = None
    if instance is not None:
        saga = {
            "state": instance.state.value,
            "version": instance.version,
            "stepDeadline": instance.step_deadline.isoformat() if instance.step_deadline else None,
            "history": [
                {
                    "seq": entry.seq,
                    "at": entry.at.isoformat(),
                    "trigger": entry.trigger_name,
                    "from": entry.from_state,
                    "to": entry.to_state,
                    "sent": entry.commands.split(",") if entry.commands else [],
                    "note": entry.note or None,
                }
                for entry in history
            ],
        }
    return {"orderId": order.id, "status": order.status.value, "flow": order.flow, "saga": saga}


def execute_saga(context: ServiceContext[SqlOrderUnitOfWork], args: argparse.Namespace) -> int:
    """An orchestrated order's saga: where it is, and every transition with what it sent."""
    with context.unit_of_work() as uow:
        order = repository.get(uow.connection, args.order_id)
        instance = uow.sagas.load(args.order_id)
        history = repository.saga_history_of(uow.connection, args.order_id)
    if order is None:
        raise UsageError(f"no order {args.order_id}")
    if args.json:
        print(json.dumps(saga_json(order, instance, history), indent=2))
        return 0
    if instance is None:
        print(
            f"order {order.id}: {order.status} ({order.flow}; no saga instance: its participants react "
            "to its events)"
        )
        return 0
    deadline = (
        f", step deadline {instance.step_deadline:%Y-%m-%d %H:%M:%S.%f} UTC" if instance.step_deadline else ""
    )
    print(f"order {order.id}: {order.status}; saga {instance.state.value} v{instance.version}{deadline}")
    for entry in history:
        sent = f"  sent {entry.commands.replace(',', ', ')}" if entry.commands else ""
        note = f"  ({entry.note})" if entry.note else ""
        print(
            f"  {entry.seq:>3}  {entry.at:%H:%M:%S.%f}  {entry.trigger_name:<17} "
            f"{entry.from_state:>9} -> {entry.to_state:<9}{sent}{note}"
        )
    return 0


# Where an order's events and commands wait on their way through either saga.
SAGA_HOPS = [
    Hop("inventory-service", "order.events"),
    Hop("payment-service", "inventory.events"),
    Hop("points-service", "inventory.events"),
    Hop("payment-service", "points.events"),
    Hop("order-service", "inventory.events"),
    Hop("order-service", "points.events"),
    Hop("order-service", "payment.events"),
    Hop("inventory-service", "inventory.commands"),
    Hop("points-service", "points.commands"),
    Hop("payment-service", "payment.commands"),
]


def timeout_sweep(context: ServiceContext[SqlOrderUnitOfWork]) -> list[PeriodicJob]:
    settings = context.settings
    own = OrderSettings.read(settings)  # every value checked at the start, the flow's too
    timeout_s = own.saga_timeout_s
    allowance_s = own.lag_allowance_s
    timeout = timedelta(seconds=timeout_s)
    heartbeats = [topic for d in outbox_connectors() if (topic := heartbeat_topic(d.config))]
    lag = PipelineLag(settings.kafka_bootstrap_servers, SAGA_HOPS, heartbeats)
    behind_before = [0.0]

    def cancel_timed_out_orders() -> int:
        if behind_before[0] < 1.0 and not deadlines_passed(context.uow_factory, timeout):
            # Nothing due even with no lag: no need to measure it (a quiet flow asks nothing).
            # While behind, it is measured every sweep, to say when the pipeline caught up.
            return 0
        try:
            behind = min(lag.seconds(), allowance_s)
        except KafkaException as exc:
            # Unknown is not "caught up": wait as long as the allowance before timing out.
            behind = allowance_s
            if behind_before[0] != behind:
                log.warning(
                    "cannot tell how far behind the pipeline is (%s); saga deadlines pushed "
                    "back by the allowance, %.0fs",
                    exc.args[0],
                    allowance_s,
                )
        if behind >= 1.0 > behind_before[0]:
            log.warning(
                "the pipeline is %.0fs behind: saga deadlines are pushed back until it "
                "catches up (at most ORDER_SAGA_LAG_ALLOWANCE_S=%.0fs)",
                behind,
                allowance_s,
            )
        elif behind < 1.0 <= behind_before[0]:
            log.warning("the pipeline caught up: saga deadlines count again")
        behind_before[0] = behind
        pipeline_behind = timedelta(seconds=behind)
        return cancel_timed_out(
            context.uow_factory, timeout, pipeline_behind=pipeline_behind
        ) + expire_overdue_steps(context.uow_factory, pipeline_behind=pipeline_behind)

    every_s = min(5.0, timeout_s / 4, own.step_timeout_s / 4)
    return [(every_s, cancel_timed_out_orders)]


SERVICE = ServiceDefinition(
    name="order",
    module=__spec__.name,  # not __name__: that is "__main__" under `python -m`
    schemas=SCHEMAS,
    health_port=9101,
    metadata=metadata,
    consumes=["inventory", "points", "payment"],
    handlers=HANDLERS,
    unit_of_work=units_of_work,
    commands={
        "place": Command("place one order; prints its id", configure_place, execute_place),
        "cancel": Command("cancel an open order", configure_cancel, execute_cancel),
        "saga": Command(
            "print an orchestrated order's saga: its state and history", configure_saga, execute_saga
        ),
    },
    # Its events, and the orchestrator's commands to the other services.
    emits=("order", "inventory.commands", "points.commands", "payment.commands"),
    periodic=timeout_sweep,
    watches=SAGA_HOPS,
)


def main(argv: list[str] | None = None) -> int:
    return service_main(SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
