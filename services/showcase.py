"""The order flow as the demo shows it: the stock and points it seeds, the orders it places (each
with a label and the outcome it must reach), and the final report.

``scripts/demo.py`` runs the stack, the roster's services and the event tap around it; what is
shown is the flow's business, kept here next to the services it concerns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from outboxkit import ServiceContext
from services.contracts import ORCHESTRATED
from services.inventory.commands import set_stock
from services.order import repository
from services.order.commands import place_order
from services.order.domain import Order, OrderLine, OrderStatus
from services.points.commands import set_points
from services.points.repository import balances

DESCRIPTION = (
    "one that succeeds, one short of stock, one the gateway declines (choreographed), one driven "
    "by the orchestrator, and three that redeem points: paid partly with points, declined after "
    "its points were deducted (refund nothing, return the points, release the stock), and one "
    "whose customer has too few"
)
REPORT = "final state of each order (order_db), and the customers' points"
SERVICE_ENV = {"PAYMENT_LIMIT_CENTS": "50000", "ORDER_SAGA_TIMEOUT_S": "120"}
CONFIRMED = ("happy", "orchestrated", "points")


@dataclass
class Showcase:
    contexts: dict[str, ServiceContext[Any]]
    run_id: str
    orders: dict[str, Order] = field(default_factory=dict)  # label -> order
    starting_points: dict[str, int] = field(default_factory=dict)
    expected_points: dict[str, int] = field(default_factory=dict)

    def customer(self, name: str) -> str:
        return f"{name}-{self.run_id}"

    @property
    def apples(self) -> str:
        return f"APPLE-{self.run_id}"

    @property
    def pears(self) -> str:
        return f"PEAR-{self.run_id}"

    def seed(self) -> None:
        set_stock(self.contexts["inventory"].uow_factory, self.apples, 20)
        set_stock(self.contexts["inventory"].uow_factory, self.pears, 1)
        erin, frank, grace = (self.customer(name) for name in ("erin", "frank", "grace"))
        self.starting_points = {erin: 500, frank: 500, grace: 50}
        # Erin pays 200 points; Frank's come back when payment declines; Grace's are too few.
        self.expected_points = {erin: 300, frank: 500, grace: 50}
        for customer, points in self.starting_points.items():
            set_points(self.contexts["points"].uow_factory, customer, points)

    def place(self) -> dict[str, Order]:
        place = self.contexts["order"].uow_factory
        apples, pears = self.apples, self.pears
        self.orders = {
            "happy": place_order(place, "alice", [OrderLine(apples, 2, 150), OrderLine(pears, 1, 300)]),
            "no stock": place_order(place, "bob", [OrderLine(pears, 5, 300)]),
            "declined": place_order(place, "carol", [OrderLine(apples, 3, 25_000)]),
            "orchestrated": place_order(place, "dave", [OrderLine(apples, 1, 150)], flow=ORCHESTRATED),
            "points": place_order(place, self.customer("erin"), [OrderLine(apples, 2, 150)], points=200),
            "points back": place_order(
                place, self.customer("frank"), [OrderLine(apples, 3, 25_000)], flow=ORCHESTRATED, points=100
            ),
            "few points": place_order(place, self.customer("grace"), [OrderLine(apples, 1, 150)], points=120),
        }
        return self.orders

    def report(self) -> Iterator[tuple[str, bool]]:
        """Each line of the final report, and whether it is what the demo expects."""
        with self.contexts["order"].engine.connect() as connection:
            for label, order in self.orders.items():
                stored = repository.get(connection, order.id)
                assert stored is not None
                reason = f" ({stored.cancel_reason})" if stored.cancel_reason else ""
                expected = OrderStatus.CONFIRMED if label in CONFIRMED else OrderStatus.CANCELLED
                yield f"{label:>12}: {stored.status}{reason}", stored.status is expected
                for entry in repository.saga_history_of(connection, order.id):
                    sent = f", sent {entry.commands}" if entry.commands else ""
                    yield (
                        f"{'':>12}  saga: {entry.trigger_name}: {entry.from_state} -> {entry.to_state}{sent}",
                        True,
                    )
        deadline = time.monotonic() + 30  # a compensation may land just after the order's last event
        while True:
            with self.contexts["points"].engine.connect() as connection:
                now = balances(connection, list(self.starting_points))
            if now == self.expected_points or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for customer, points in self.starting_points.items():
            after = self.expected_points[customer]
            yield (
                f"{customer:>14}: {points} points before, {now[customer]} after",
                now[customer] == after,
            )
