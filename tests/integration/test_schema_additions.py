"""A newer version's additions reach an existing table: `run`/`migrate` add missing columns and
indexes (e.g. the outbox's index by aggregate, which the order API's sync state reads by)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.sql.schema import SchemaItem

from outboxkit.service.context import ServiceContext
from outboxkit.storage.db import create_tables

pytestmark = pytest.mark.stack


def probe_table(metadata: MetaData, *extra: SchemaItem) -> Table:
    return Table("schema_addition_probe", metadata, Column("id", Integer, primary_key=True), *extra)


def test_a_declared_column_and_index_are_added_to_an_existing_table(
    order_context: ServiceContext[Any],
) -> None:
    engine = order_context.engine
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS schema_addition_probe"))
    try:
        old = MetaData()
        probe_table(old)
        create_tables(engine, old)
        newer = MetaData()
        probe_table(newer, Column("note", String(32)), Index("ix_probe_note", "note"))
        create_tables(engine, newer)
        inspector = inspect(engine)
        assert "note" in {c["name"] for c in inspector.get_columns("schema_addition_probe")}
        assert "ix_probe_note" in {i["name"] for i in inspector.get_indexes("schema_addition_probe")}
        create_tables(engine, newer)  # a second run has nothing to add
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS schema_addition_probe"))
