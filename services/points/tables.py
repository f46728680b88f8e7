"""The points service's tables in points_db."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table
from sqlalchemy.dialects.mysql import CHAR, DATETIME

from outboxkit import MessagingTables

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
)

redemptions = Table(
    "redemptions",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("reason", String(255)),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
)

messaging = MessagingTables.add_to(metadata)
