"""The payment service's tables in payment_db."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table
from sqlalchemy.dialects.mysql import CHAR, DATETIME

from outboxkit import MessagingTables

metadata = MetaData()

# order_id is the primary key: the UNIQUE idempotency key that makes a second charge for one
# order impossible, whatever the messaging does.
payments = Table(
    "payments",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("gateway_reference", String(64)),
    Column("refund_reference", String(64)),
    Column("reason", String(255)),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
)

messaging = MessagingTables.add_to(metadata)
