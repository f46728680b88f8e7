"""Event and aggregate ids are UUIDv7: valid UUIDs whose text sorts by the time they were made,
so new rows land at the end of their indexes."""

from __future__ import annotations

import time
import uuid

from outboxkit.base.ids import new_id
from outboxkit.base.messages import OutboxEvent


def test_ids_are_version_7_and_sort_by_time() -> None:
    earlier = [new_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_id()
    assert {uuid.UUID(i).version for i in earlier} == {7}
    assert len(set(earlier)) == 1000
    assert max(earlier) < later
    milliseconds = uuid.UUID(later).int >> 80
    assert abs(milliseconds - time.time_ns() // 1_000_000) < 1000


def test_an_outbox_event_gets_a_time_ordered_id() -> None:
    event = OutboxEvent("thing", "thing-1", "ThingHappened", 1, {})
    assert uuid.UUID(event.event_id).version == 7
