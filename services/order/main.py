"""Order service entry point: ``order-service migrate | place``."""

from __future__ import annotations

import argparse
import logging

from eventcore.bootstrap import configure_logging
from services.order import app
from services.order.commands import place_order
from services.order.domain import InvalidOrderError, OrderLine

log = logging.getLogger("order-service")


def parse_line(text: str) -> OrderLine:
    """``SKU:QTY:UNIT_PRICE_CENTS`` -> OrderLine."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"line {text!r} is not SKU:QUANTITY:UNIT_PRICE_CENTS")
    try:
        return OrderLine(parts[0], int(parts[1]), int(parts[2]))
    except (ValueError, InvalidOrderError) as exc:
        raise argparse.ArgumentTypeError(f"line {text!r}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="order-service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the service's tables and register its schemas")
    place = sub.add_parser("place", help="place one order")
    place.add_argument("--customer", required=True)
    place.add_argument("--line", dest="lines", action="append", type=parse_line, required=True,
                       help="SKU:QUANTITY:UNIT_PRICE_CENTS (repeatable)")
    place.add_argument("--currency", default="EUR")
    args = parser.parse_args(argv)
    configure_logging()
    context = app.build()
    if args.command == "migrate":
        context.create_tables()
        context.outbox.register_schemas()
        return 0
    try:
        order = place_order(context.uow_factory, args.customer, args.lines, args.currency)
    except InvalidOrderError as exc:
        parser.error(str(exc))
    print(order.id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
