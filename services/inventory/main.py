"""Inventory service entry point: ``inventory-service migrate | run | set-stock``."""

from __future__ import annotations

import argparse

from eventcore.bootstrap import ServiceContext
from eventcore.service_cli import Command, ServiceDefinition, service_main
from services.inventory.commands import HANDLERS, set_stock
from services.inventory.tables import metadata


def configure_set_stock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sku")
    parser.add_argument("available", type=int)


def execute_set_stock(context: ServiceContext, args: argparse.Namespace) -> int:
    set_stock(context.uow_factory, args.sku, args.available)
    return 0


INVENTORY_SERVICE = ServiceDefinition(
    name="inventory",
    metadata=metadata,
    consumes=["order"],
    handlers=HANDLERS,
    commands={"set-stock": Command("set a product's available stock", configure_set_stock,
                                   execute_set_stock)},
)


def main(argv: list[str] | None = None) -> int:
    return service_main(INVENTORY_SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
