"""The inbox horizon on the real database: a receipt goes only once it is old enough AND its group
has committed past its record; each pruning records how far it went."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from outboxkit.base.clock import utc_now
from outboxkit.consuming.inbox import horizons, prune_inbox
from services.inventory.tables import messaging

pytestmark = pytest.mark.stack
inbox, horizon = messaging.inbox, messaging.inbox_horizon


@pytest.fixture
def group(contexts):
    name = f"horizon-test-{uuid.uuid4().hex[:8]}"
    yield name
    with contexts["inventory"].engine.begin() as connection:
        connection.execute(delete(inbox).where(inbox.c.consumer_group == name))
        connection.execute(delete(horizon).where(horizon.c.consumer_group == name))


def receipts(engine, group: str) -> list[tuple[str, int, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(inbox.c.topic, inbox.c.kafka_partition, inbox.c.kafka_offset).where(
                inbox.c.consumer_group == group
            )
        ).all()
    return sorted((r.topic, r.kafka_partition, r.kafka_offset) for r in rows)


def test_receipts_go_once_old_and_committed_past_and_the_horizon_says_how_far(contexts, group):
    engine = contexts["inventory"].engine
    now = utc_now()
    rows = [
        {
            "consumer_group": group,
            "event_id": str(uuid.uuid4()),
            "event_type": "OrderCreated",
            "topic": topic,
            "kafka_partition": 0,
            "kafka_offset": offset,
            "processed_at": now - timedelta(days=10 if offset < 5 else 0),
            "outcome": "applied",
        }
        for topic in ("a.events", "b.events")
        for offset in range(10)
    ]
    with engine.begin() as connection:
        connection.execute(inbox.insert(), rows)
    older_than = now - timedelta(days=7)

    # a.events: committed up to 3 (0-2 passed); b.events: nothing committed (offset -1001).
    removed = prune_inbox(
        engine, inbox, horizon, group, {("a.events", 0): 3, ("b.events", 0): -1001}, older_than, batch_size=2
    )
    assert removed == 3
    left = receipts(engine, group)
    assert [r for r in left if r[0] == "a.events"] == [("a.events", 0, o) for o in range(3, 10)]
    assert [r for r in left if r[0] == "b.events"] == [("b.events", 0, o) for o in range(10)]
    with engine.connect() as connection:
        pruned = horizons(connection, horizon, group)
    assert {key: h.below_offset for key, h in pruned.items()} == {("a.events", 0): 3}

    # Committed far ahead: only the old receipts go; the recent ones wait out their retention.
    assert prune_inbox(engine, inbox, horizon, group, {("a.events", 0): 100}, older_than, 2) == 2
    left = receipts(engine, group)
    assert [r for r in left if r[0] == "a.events"] == [("a.events", 0, o) for o in range(5, 10)]
    with engine.connect() as connection:
        assert horizons(connection, horizon, group)[("a.events", 0)].below_offset == 5
    # Nothing left to prune: the horizon stays where it is.
    assert prune_inbox(engine, inbox, horizon, group, {("a.events", 0): 100}, older_than, 2) == 0
    with engine.connect() as connection:
        assert horizons(connection, horizon, group)[("a.events", 0)].below_offset == 5
