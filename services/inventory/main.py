"""Inventory service entry point: ``inventory-service migrate | run | set-stock | dlq | prune-outbox``."""

from __future__ import annotations

import argparse

from outboxkit import Command, ServiceContext, ServiceDefinition, service_main
from services import SCHEMAS
from services.inventory.commands import HANDLERS, set_stock
from services.inventory.domain import MAX_STOCK, valid_sku
from services.inventory.repository import SqlInventoryUnitOfWork, current_levels
from services.inventory.tables import metadata


def stock_quantity(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_STOCK:
        raise argparse.ArgumentTypeError(f"available stock must be between 0 and {MAX_STOCK}, not {text}")
    return value


def sku(text: str) -> str:
    try:
        return valid_sku(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure_set_stock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sku", type=sku)
    parser.add_argument("available", type=stock_quantity)


def execute_set_stock(context: ServiceContext[SqlInventoryUnitOfWork], args: argparse.Namespace) -> int:
    level = set_stock(context.uow_factory, args.sku, args.available)
    print(f"{level.sku}: available {level.available}, reserved {level.reserved}")
    return 0


# PLUM runs out: a rejected order to see.
STARTER_STOCK = {"APPLE": 1000, "PEAR": 1000, "PLUM": 5}


def stock_to_try(context: ServiceContext[SqlInventoryUnitOfWork]) -> list[str]:
    with context.engine.connect() as connection:
        known = current_levels(connection, list(STARTER_STOCK))
    for product, available in STARTER_STOCK.items():
        if product not in known:
            set_stock(context.uow_factory, product, available)
    return [f"stocked {n} x {product}" for product, n in STARTER_STOCK.items() if product not in known]


SERVICE = ServiceDefinition(
    name="inventory",
    module=__spec__.name,  # not __name__: that is "__main__" under `python -m`
    schemas=SCHEMAS,
    health_port=9102,
    metadata=metadata,
    consumes=["order", "inventory.commands"],
    handlers=HANDLERS,
    unit_of_work=SqlInventoryUnitOfWork.factory,
    starter=stock_to_try,
    commands={
        "set-stock": Command(
            "set a product's available stock (reserved stock is left alone)",
            configure_set_stock,
            execute_set_stock,
        )
    },
)


def main(argv: list[str] | None = None) -> int:
    return service_main(SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
