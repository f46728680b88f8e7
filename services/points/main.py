"""Points service entry point: ``points-service migrate | run | set-points | balance | dlq``."""

from __future__ import annotations

import argparse
import json

from outboxkit import Command, ServiceContext, ServiceDefinition, service_main
from services import SCHEMAS
from services.points.commands import HANDLERS, set_points
from services.points.domain import MAX_BALANCE, valid_customer
from services.points.repository import SqlPointsUnitOfWork, balances
from services.points.tables import metadata


def customer(text: str) -> str:
    try:
        return valid_customer(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def balance(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_BALANCE:
        raise argparse.ArgumentTypeError(f"a points balance must be between 0 and {MAX_BALANCE}, not {text}")
    return value


def configure_set_points(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("customer", type=customer)
    parser.add_argument("balance", type=balance)


def execute_set_points(context: ServiceContext[SqlPointsUnitOfWork], args: argparse.Namespace) -> int:
    set_points(context.uow_factory, args.customer, args.balance)
    print(f"{args.customer}: {args.balance} points")
    return 0


def configure_balance(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("customer", type=customer)
    parser.add_argument("--json", action="store_true", help="one JSON document")


def execute_balance(context: ServiceContext[SqlPointsUnitOfWork], args: argparse.Namespace) -> int:
    with context.engine.connect() as connection:
        found = balances(connection, [args.customer])
    points = found.get(args.customer, 0)
    if args.json:
        print(json.dumps({"customerId": args.customer, "points": points}))
    else:
        print(f"{args.customer}: {points} points")
    return 0


STARTER_POINTS = {"alice": 1000}  # the page's default customer can redeem points


def points_to_try(context: ServiceContext[SqlPointsUnitOfWork]) -> list[str]:
    with context.engine.connect() as connection:
        known = balances(connection, list(STARTER_POINTS))
    for name, points in STARTER_POINTS.items():
        if name not in known:
            set_points(context.uow_factory, name, points)
    return [f"gave {name} {points} points" for name, points in STARTER_POINTS.items() if name not in known]


SERVICE = ServiceDefinition(
    name="points",
    module=__spec__.name,  # not __name__: that is "__main__" under `python -m`
    schemas=SCHEMAS,
    health_port=9105,
    metadata=metadata,
    consumes=["inventory", "order", "points.commands"],
    handlers=HANDLERS,
    unit_of_work=SqlPointsUnitOfWork.factory,
    starter=points_to_try,
    commands={
        "set-points": Command("set a customer's points balance", configure_set_points, execute_set_points),
        "balance": Command("print a customer's points balance", configure_balance, execute_balance),
    },
)


def main(argv: list[str] | None = None) -> int:
    return service_main(SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
