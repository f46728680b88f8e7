"""The read model's tables in query_db: one row per order, and its timeline."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text
from sqlalchemy.dialects.mysql import CHAR, DATETIME

from outboxkit import MessagingTables

metadata = MetaData()

order_views = Table(
    "order_views",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("order_status", String(16), nullable=False),
    Column("customer_id", String(64)),
    Column("currency", CHAR(3)),
    Column("total_cents", BigInteger),
    Column("lines", Text, nullable=False),  # JSON: [{"sku", "quantity", "unitPriceCents"}]
    Column("flow", String(16)),
    Column("stock", String(16)),
    Column("stock_reason", String(255)),
    Column("payment", String(16)),
    Column("payment_id", String(64)),
    Column("payment_reason", String(255)),
    Column("points", BigInteger),  # redeemed (NULL: views from before the column)
    Column("points_status", String(16)),  # DEDUCTED, REJECTED, RETURNED
    Column("points_reason", String(255)),
    Column("cancel_reason", String(255)),
    Column("order_version", BigInteger, nullable=False),
    Column("inventory_version", BigInteger, nullable=False),
    Column("payment_version", BigInteger, nullable=False),
    Column("points_version", BigInteger),
    Column("placed_at", DATETIME(fsp=6)),
    Column("updated_at", DATETIME(fsp=6)),
    Index("ix_order_views_status", "status", "placed_at"),
    Index("ix_order_views_placed", "placed_at"),
)

order_view_timeline = Table(
    "order_view_timeline",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("event_id", CHAR(36), primary_key=True),
    Column("aggregate_type", String(64), nullable=False),
    Column("aggregate_version", BigInteger, nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("occurred_at", DATETIME(fsp=6)),
    Column("summary", String(512), nullable=False),
)

# The consumer runtime's inbox, version guard and dead letters (the outbox stays empty: the
# read model emits nothing).
messaging = MessagingTables.add_to(metadata)
