"""The connector config a recovery runs with, and how an interrupted one is found (pure)."""

from __future__ import annotations

from datetime import datetime

from outboxkit.cdc.recovery import (
    EVERYTHING,
    RecoveryPlan,
    interrupted_since,
    normal_config,
    recovery_config,
)

BASE = {"name": "order-outbox", "snapshot.mode": "no_data", "table.include.list": "order_db.outbox"}
PLAN = RecoveryPlan(
    "order-outbox", ("order_db.outbox",), datetime(2026, 11, 30, 10, 5, 1, 250000), 42, "purged"
)


def test_the_recovery_snapshot_selects_rows_since_the_start_in_publication_order():
    config = recovery_config(BASE, PLAN)
    assert config["snapshot.mode"] == "initial"
    assert config["snapshot.select.statement.overrides"] == "order_db.outbox"
    select = config["snapshot.select.statement.overrides.order_db.outbox"]
    assert select == (
        "SELECT * FROM order_db.outbox WHERE occurred_at >= '2026-11-30 10:05:01.250000' "
        "ORDER BY occurred_at, aggregate_version"
    )


def test_the_normal_config_comes_back_without_a_trace_of_the_recovery():
    recovering = recovery_config(BASE, PLAN)
    assert normal_config(recovering, "no_data") == BASE


def test_an_interrupted_recovery_is_resumed_from_the_same_time():
    assert interrupted_since(recovery_config(BASE, PLAN)) == PLAN.since
    assert interrupted_since(BASE) is None
    again = recovery_config(recovery_config(BASE, PLAN), PLAN)  # a second run replaces, not stacks
    assert [k for k in again if k.startswith("snapshot.select")] == [
        "snapshot.select.statement.overrides",
        "snapshot.select.statement.overrides.order_db.outbox",
    ]


def test_the_plan_says_what_it_will_do():
    assert "republishing the 42 row(s) of order_db.outbox that occurred since 2026-11-30 10:05:01" in (
        PLAN.describe()
    )
    everything = RecoveryPlan("order-outbox", ("order_db.outbox",), EVERYTHING, 7, "purged")
    assert "that occurred since" not in everything.describe()


def test_a_connector_of_several_outboxes_snapshots_each_one_since_the_same_time():
    plan = RecoveryPlan(
        "outbox", ("order_db.outbox", "payment_db.outbox"), datetime(2026, 11, 30, 10, 0), 9, "taking over"
    )
    config = recovery_config({**BASE, "table.include.list": "order_db.outbox,payment_db.outbox"}, plan)
    assert config["snapshot.select.statement.overrides"] == "order_db.outbox,payment_db.outbox"
    for table in plan.tables:
        select = config[f"snapshot.select.statement.overrides.{table}"]
        assert select.startswith(f"SELECT * FROM {table} WHERE occurred_at >= '2026-11-30 10:00:00")
        assert select.endswith("ORDER BY occurred_at, aggregate_version")
    assert interrupted_since(config) == plan.since
    assert "order_db.outbox, payment_db.outbox" in plan.describe()
