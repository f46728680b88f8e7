"""The order flow as the fault suite drives it: what it seeds, the orders it places (and
cancels), and the business invariants it checks once every order is final:

- per SKU, available + reserved = initial, and reserved = what the confirmed orders hold;
- one charge per confirmed order; one refund per charged, cancelled order; no charge for an
  order the stock rejected;
- each orchestrated saga ended as its order;
- about 30% of the orders redeem points: per customer, balance + points held = initial; only
  the confirmed orders that redeemed points hold them; no order's points deducted (or returned)
  twice.

The fault suite (scripts/fault_suite.py) owns the rest: the faults, the services it starts from
the roster, and the checks every roster holds (each outbox row published once and in order, each
aggregate's versions applied in order, no dead letters). A participant added to the flow adds its
seed, its part of an order and its invariants here, next to the services they concern.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import func, select

from outboxkit import ServiceContext, Settings
from services.inventory.commands import set_stock
from services.inventory.tables import products
from services.order.commands import cancel_order, place_order
from services.order.domain import Order, OrderLine
from services.order.orchestration import OrderSaga
from services.order.tables import order_lines, orders, sagas
from services.payment.gateway import ChargeLedger
from services.payment.settings import PaymentSettings
from services.payment.tables import payments
from services.points.commands import set_points
from services.points.repository import balances
from services.points.tables import redemptions

PAYMENT_LIMIT_CENTS = 50_000  # about 10% of the orders are over it: declined
SKUS = 8
CUSTOMERS = 4  # each with a points balance
POINTS_SHARE = 0.3  # of the orders redeem points
MAX_POINTS = 500  # per order
FINAL = ("CONFIRMED", "CANCELLED")


class Invariant(NamedTuple):
    name: str
    ok: bool
    detail: str


@dataclass
class OrderFlowDrill:
    contexts: dict[str, ServiceContext[Any]]
    settings: Settings
    run_id: str
    orders: int  # how many the run places (sizes the stock and the balances)
    skus: dict[str, int] = field(default_factory=dict)  # sku -> initial stock
    points: dict[str, int] = field(default_factory=dict)  # customer -> initial balance
    figures: dict[str, object] = field(default_factory=dict)

    @property
    def customer_prefix(self) -> str:
        return f"fault-{self.run_id}-"

    @staticmethod
    def service_env() -> dict[str, str]:
        """Settings the flow's services run with during the drill."""
        return {"PAYMENT_LIMIT_CENTS": str(PAYMENT_LIMIT_CENTS)}

    def seed(self) -> None:
        """SKUs stocked for about 85% of the demand and balances for about 80% of the points
        redeemed, so some orders are refused for stock and some for points."""
        per_sku_demand = self.orders * 2 / SKUS  # 1-3 units per order, one SKU per order
        for n in range(SKUS):
            sku = f"F{self.run_id}-{n}"
            self.skus[sku] = int(per_sku_demand * 0.85)
            set_stock(self.contexts["inventory"].uow_factory, sku, self.skus[sku])
        per_customer = int(self.orders * POINTS_SHARE * MAX_POINTS / 2 / CUSTOMERS * 0.8)
        for k in range(CUSTOMERS):
            customer = f"{self.customer_prefix}{k}"
            self.points[customer] = per_customer
            set_points(self.contexts["points"].uow_factory, customer, per_customer)

    def describe(self) -> str:
        return f"{len(self.skus)} SKUs, {len(self.points)} customers with points"

    def place(self, rng: random.Random, flow: str, saga: OrderSaga) -> Order:
        """One order of the mix: 1-3 units of one SKU, some over the card limit, some paid
        partly with points."""
        price = PAYMENT_LIMIT_CENTS + 100 if rng.random() < 0.1 else rng.randint(100, 5000)
        line = OrderLine(rng.choice(list(self.skus)), rng.randint(1, 3), price)
        customer = rng.choice(list(self.points))
        points = rng.randint(1, min(MAX_POINTS, line.total_cents)) if rng.random() < POINTS_SHARE else 0
        return place_order(
            self.contexts["order"].uow_factory, customer, [line], flow=flow, saga=saga, points=points
        )

    def cancel(self, order_id: str, reason: str) -> None:
        cancel_order(self.contexts["order"].uow_factory, order_id, reason)

    def final_states(self) -> dict[str, tuple[str, str | None]]:
        """order id -> (status, cancel reason), for every order of this run."""
        with self.contexts["order"].engine.connect() as connection:
            rows = connection.execute(
                select(orders.c.id, orders.c.status, orders.c.cancel_reason).where(
                    orders.c.customer_id.like(f"{self.customer_prefix}%")
                )
            )
            return {r.id: (r.status, r.cancel_reason) for r in rows}

    def invariants(self, final: dict[str, tuple[str, str | None]]) -> list[Invariant]:
        """Stock, charges, refunds, sagas and points of the run's orders, once all are final."""
        checks: list[Invariant] = []
        ids = list(final)
        with self.contexts["order"].engine.connect() as c:
            lines = c.execute(
                select(order_lines.c.order_id, order_lines.c.sku, order_lines.c.quantity).where(
                    order_lines.c.order_id.in_(ids)
                )
            ).all()
        held: dict[str, int] = defaultdict(int)
        for line in lines:
            if final[line.order_id][0] == "CONFIRMED":
                held[line.sku] += line.quantity
        with self.contexts["inventory"].engine.connect() as c:
            stock = {
                r.sku: (r.available, r.reserved)
                for r in c.execute(
                    select(products.c.sku, products.c.available, products.c.reserved).where(
                        products.c.sku.in_(list(self.skus))
                    )
                )
            }
        conserved = [sku for sku, initial in self.skus.items() if sum(stock[sku]) != initial]
        misheld = [sku for sku in self.skus if stock[sku][1] != held[sku]]
        checks.append(
            Invariant(
                "stock + reserved = initial per SKU",
                not conserved,
                f"{len(self.skus)} SKUs" + (f"; broken: {conserved}" if conserved else ""),
            )
        )
        checks.append(
            Invariant(
                "reserved = what confirmed orders hold",
                not misheld,
                f"{sum(held.values())} units held" + (f"; differs: {misheld}" if misheld else ""),
            )
        )

        ledger = ChargeLedger(PaymentSettings.read(self.settings).gateway_ledger)
        with self.contexts["payment"].engine.connect() as c:
            paid = {r.order_id: r for r in c.execute(select(payments).where(payments.c.order_id.in_(ids)))}
        confirmed = [oid for oid, (state, _) in final.items() if state == "CONFIRMED"]
        bad_charges = []
        for oid in confirmed:
            entry, row = ledger.lookup(oid), paid.get(oid)
            if not (
                entry
                and entry.result.approved
                and row is not None
                and row.status == "COMPLETED"
                and row.gateway_reference == entry.result.reference
            ):
                bad_charges.append(oid)
        checks.append(
            Invariant(
                "one charge per confirmed order",
                not bad_charges,
                f"{len(confirmed)} confirmed" + (f"; wrong: {bad_charges[:5]}" if bad_charges else ""),
            )
        )
        cancelled = [oid for oid, (state, _) in final.items() if state == "CANCELLED"]
        charged_cancelled = [oid for oid in cancelled if (e := ledger.lookup(oid)) and e.result.approved]
        bad_refunds = [
            oid
            for oid in charged_cancelled
            if not (
                paid.get(oid) is not None
                and paid[oid].status == "REFUNDED"
                and ledger.refund_reference(f"refund-{oid}") == paid[oid].refund_reference
            )
        ]
        checks.append(
            Invariant(
                "one refund per charged, cancelled order",
                not bad_refunds,
                f"{len(charged_cancelled)} charged then cancelled"
                + (f"; wrong: {bad_refunds[:5]}" if bad_refunds else ""),
            )
        )
        with self.contexts["order"].engine.connect() as c:
            saga_states = {
                r.order_id: r.state
                for r in c.execute(select(sagas.c.order_id, sagas.c.state).where(sagas.c.order_id.in_(ids)))
            }
        expected_saga = {"CONFIRMED": "COMPLETED", "CANCELLED": "CANCELLED"}
        disagreeing = [oid for oid, state in saga_states.items() if expected_saga.get(final[oid][0]) != state]
        self.figures["orchestrated_orders"] = len(saga_states)
        checks.append(
            Invariant(
                "each orchestrated saga ended as its order",
                not disagreeing,
                f"{len(saga_states)} orchestrated"
                + (f"; disagree: {disagreeing[:5]}" if disagreeing else ""),
            )
        )
        checks += self._points_invariants(final)
        rejected = [oid for oid in cancelled if (final[oid][1] or "").startswith("stock rejected")]
        charged_rejected = [oid for oid in rejected if ledger.lookup(oid) is not None]
        checks.append(
            Invariant(
                "no charge for a stock-rejected order",
                not charged_rejected,
                f"{len(rejected)} rejected for stock"
                + (f"; charged: {charged_rejected[:5]}" if charged_rejected else ""),
            )
        )

        return checks

    def _points_invariants(self, final: dict[str, tuple[str, str | None]]) -> list[Invariant]:
        """Points conserved per customer, held only by confirmed orders, never deducted twice."""
        ids = list(final)
        context = self.contexts["points"]
        outbox = context.messaging.outbox
        with context.engine.connect() as c:
            held = {
                r.order_id: r
                for r in c.execute(select(redemptions).where(redemptions.c.order_id.in_(ids)))
                if r.status == "DEDUCTED"
            }
            now = balances(c, list(self.points))
            repeated = c.execute(
                select(outbox.c.aggregateid, outbox.c.type, func.count())
                .where(outbox.c.aggregateid.in_(ids), outbox.c.type.in_(["PointsDeducted", "PointsReturned"]))
                .group_by(outbox.c.aggregateid, outbox.c.type)
                .having(func.count() > 1)
            ).all()
        with self.contexts["order"].engine.connect() as c:
            redeeming = {
                r.id: r.points
                for r in c.execute(
                    select(orders.c.id, orders.c.points).where(orders.c.id.in_(ids), orders.c.points > 0)
                )
            }
        by_customer: dict[str, int] = defaultdict(int)
        for row in held.values():
            by_customer[row.customer_id] += row.points
        unbalanced = {
            customer: (initial, now.get(customer), by_customer[customer])
            for customer, initial in self.points.items()
            if now.get(customer, 0) + by_customer[customer] != initial
        }
        confirmed_with_points = {oid for oid in redeeming if final[oid][0] == "CONFIRMED"}
        wrongly_held = sorted(set(held) ^ confirmed_with_points)
        wrong_amount = [
            oid for oid in confirmed_with_points & set(held) if held[oid].points != redeeming[oid]
        ]
        refused = sum(1 for _state, reason in final.values() if (reason or "").startswith("points rejected"))
        self.figures["orders_redeeming_points"] = len(redeeming)
        return [
            Invariant(
                "points: balance + held = initial per customer",
                not unbalanced,
                f"{len(self.points)} customers, {sum(by_customer.values())} points held by "
                f"{len(held)} orders"
                + (f"; broken (initial, now, held): {unbalanced}" if unbalanced else ""),
            ),
            Invariant(
                "points held exactly by the confirmed orders that redeemed them",
                not wrongly_held and not wrong_amount,
                f"{len(redeeming)} orders redeemed points, {len(confirmed_with_points)} confirmed, "
                f"{refused} refused for points"
                + (f"; wrong: {(wrongly_held + wrong_amount)[:5]}" if wrongly_held or wrong_amount else ""),
            ),
            Invariant(
                "no order's points deducted or returned twice",
                not repeated,
                "each at most once in the outbox" + (f"; repeated: {repeated[:5]}" if repeated else ""),
            ),
        ]
