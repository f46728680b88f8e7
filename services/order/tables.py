"""The order service's tables in order_db."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, MetaData, String, Table
from sqlalchemy.dialects.mysql import CHAR, DATETIME

from outboxkit import MessagingTables, idempotency_keys_table

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", CHAR(36), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("cancel_reason", String(255)),
    Column("payment_id", String(64)),
    Column("flow", String(16)),  # NULL: choreographed (orders from before the column)
    Column("points", BigInteger),  # redeemed; NULL: none (orders from before the column)
    Column("created_at", DATETIME(fsp=6), nullable=False),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
    Index("ix_orders_open", "status", "created_at"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", CHAR(36), ForeignKey("orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
)

# The orchestrated sagas (services/order/orchestration.py): one row per order, and its history.
sagas = Table(
    "sagas",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("step_deadline", DATETIME(fsp=6)),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
    Index("ix_sagas_deadline", "state", "step_deadline"),
)

saga_history = Table(
    "saga_history",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", DATETIME(fsp=6), nullable=False),
    Column("trigger_name", String(64), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("commands", String(255), nullable=False),
    Column("note", String(255), nullable=False),
)

# POST /orders with an Idempotency-Key (services/order_api): the key commits with the order.
idempotency_keys = idempotency_keys_table(metadata)

messaging = MessagingTables.add_to(metadata)
