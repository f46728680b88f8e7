"""`outboxkit cdc verify`'s comparison of outbox rows with the records on their topics (pure)."""

from __future__ import annotations

from datetime import datetime

from outboxkit.cdc.verify import OutboxRow, PublicationAudit, Published, compare

T = datetime(2026, 11, 30, 12, 0)


def row(event_id: str, key: str = "o1", version: int = 1, topic: str = "order.events") -> OutboxRow:
    return OutboxRow(event_id, topic, key, "OrderCreated", version, T)


def record(event_id: str, offset: int, key: str = "o1", version: int = 1, partition: int = 0) -> Published:
    return Published(event_id, key, version, partition, offset)


def audit(*rows: OutboxRow) -> PublicationAudit:
    return PublicationAudit("order-outbox", T, T, list(rows))


def test_every_row_once_in_version_order_is_complete():
    found = compare(
        audit(row("a", version=1), row("b", version=2)),
        {"order.events": [record("a", 10, version=1), record("b", 11, version=2)]},
    )
    assert found.complete and not found.missing and not found.duplicated and not found.out_of_order


def test_a_row_with_no_record_is_missing_and_one_with_two_is_duplicated():
    found = compare(audit(row("a"), row("b", key="o2")), {"order.events": [record("a", 1), record("a", 7)]})
    assert [r.id for r in found.missing] == ["b"]
    assert found.duplicated == {"a": 2}
    assert not found.complete


def test_a_record_on_another_topic_does_not_count_for_the_row():
    found = compare(audit(row("a", topic="inventory.commands")), {"order.events": [record("a", 1)]})
    assert [r.id for r in found.missing] == ["a"]


def test_an_aggregate_whose_events_first_appeared_out_of_version_order_is_named():
    # v2 was published before v1 (v1's later copy, a republication, does not make up for it)...
    found = compare(
        audit(row("a", version=1), row("b", version=2)),
        {"order.events": [record("b", 3, version=2), record("a", 4, version=1)]},
    )
    assert found.out_of_order == ["order.events key=o1: versions appeared as [2, 1]"]
    # ...while a republication after the originals (a recovery's duplicates) keeps the order.
    fine = compare(
        audit(row("a", version=1), row("b", version=2)),
        {
            "order.events": [
                record("a", 3),
                record("b", 4, version=2),
                record("a", 9),
                record("b", 10, version=2),
            ]
        },
    )
    assert fine.complete and fine.duplicated == {"a": 2, "b": 2}
    assert "2 published more than once (2 extra record(s))" in fine.summary()


def test_a_record_keyed_by_something_else_than_its_aggregate_is_named():
    found = compare(
        audit(row("a", key="o1"), row("b", key="o2")),
        {"order.events": [record("a", 1, key="o1"), record("b", 2, key="o1")]},
    )
    assert not found.missing and not found.out_of_order
    assert found.miskeyed == ["b on order.events[0]@2: key 'o1', its aggregate is 'o2'"]
    assert not found.complete
