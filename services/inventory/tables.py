"""The inventory service's tables in inventory_db."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table
from sqlalchemy.dialects.mysql import CHAR, DATETIME

from outboxkit import MessagingTables

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("available", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("reason", String(255)),
    Column("updated_at", DATETIME(fsp=6), nullable=False),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("order_id", CHAR(36), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
)

messaging = MessagingTables.add_to(metadata)
