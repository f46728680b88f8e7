"""`outboxkit cdc` on the real stack: a paused connector's events are missing until it resumes (`cdc
verify` names them), a forced recovery republishes (duplicates, never a gap or a reordering),
and `outboxkit replay` filters by type, partition, offset and time."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outboxkit.kafka.partitioning import partition_for
from services.order.commands import place_order
from services.order.domain import OrderLine
from tests.conftest import connector_of, wait_until

pytestmark = pytest.mark.stack


def cli(module: str, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout_s
    )


def cdc(*args: str) -> subprocess.CompletedProcess[str]:
    return cli("outboxkit.cli.cdc", *args)


def since_now() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def test_a_paused_connector_leaves_events_missing_until_it_resumes(order_context, connectors):
    connector = connector_of("order")
    since = since_now()
    paused = cdc("pause", connector)
    assert paused.returncode == 0 and f"{connector}: paused" in paused.stdout
    try:
        wait_until(lambda: cdc("status", connector).returncode == 3, 60, f"{connector} to stop streaming")
        order_id = place_order(order_context.uow_factory, "paused-cdc", [OrderLine("P", 1, 1)]).id
        missing = cdc("verify", connector, "--since", since, "--wait", "3", "--json")
        assert missing.returncode == 3, missing.stdout + missing.stderr
        audit = json.loads(missing.stdout)
        assert [(m["key"], m["type"], m["version"]) for m in audit["missing"]] == [
            (order_id, "OrderCreated", 1)
        ]
    finally:
        assert cdc("resume", connector).returncode == 0
    complete = cdc("verify", connector, "--since", since)
    assert complete.returncode == 0, complete.stdout + complete.stderr
    assert ": 1 outbox row(s) from" in complete.stdout
    assert " 0 missing, 0 published more than once" in complete.stdout
    offsets = cdc("offsets", connector)
    assert offsets.returncode == 0 and "last event handled" in offsets.stdout


def test_a_forced_recovery_republishes_in_order_and_verify_counts_the_copies(order_context, connectors):
    connector = connector_of("order")
    since = since_now()
    order_id = place_order(order_context.uow_factory, "forced-recovery", [OrderLine("F", 1, 1)]).id
    assert cdc("verify", connector, "--since", since).returncode == 0
    refused = cdc("recover", connector, "--yes")
    assert refused.returncode == 2 and "is still on the server (oldest: binlog." in refused.stderr
    assert "nothing to recover" in refused.stderr
    dry = cdc("recover", connector, "--force", "--since", since, "--dry-run")
    assert dry.returncode == 0
    assert "snapshot select: SELECT * FROM order_db.outbox WHERE occurred_at >=" in dry.stdout
    forced = cdc("recover", connector, "--force", "--since", since, "--yes")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert f"{connector}: streaming again after" in forced.stdout
    audit = cdc("verify", connector, "--since", since, "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    found = json.loads(audit.stdout)
    assert found["missing"] == [] and found["outOfOrder"] == []
    assert len(found["duplicated"]) >= 1  # the order's event, published again by the snapshot
    strict = cdc("verify", connector, "--since", since, "--fail-on-duplicates")
    assert strict.returncode == 3 and "published more than once" in strict.stdout
    assert cdc("status", connector).returncode == 0
    replayed = cli("outboxkit.cli.replay", "order.events", "--key", order_id, "--json")
    assert [json.loads(line)["headers"]["eventType"] for line in replayed.stdout.splitlines()] == [
        "OrderCreated",
        "OrderCreated",
    ]  # the copy carries the same headers, id included
    first, copy = (json.loads(line)["headers"] for line in replayed.stdout.splitlines())
    assert first == copy


def test_replay_filters_by_type_partition_offset_and_time(order_context, connectors):
    order_id = place_order(order_context.uow_factory, "replay-filters", [OrderLine("R", 1, 1)]).id
    place_order(order_context.uow_factory, "replay-filters", [OrderLine("R", 1, 1)])  # another key
    partition = partition_for(order_id)
    records: list[dict[str, Any]] = []

    def published() -> bool:
        mine = cli(
            "outboxkit.cli.replay", "order.events", "--key", order_id, "--type", "OrderCreated", "--json"
        )
        records[:] = [json.loads(line) for line in mine.stdout.splitlines()]
        return mine.returncode == 0 and bool(records)

    wait_until(published, 60, "the order's event on order.events")
    assert [r["partition"] for r in records] == [partition]
    offset = records[0]["offset"]
    exact = cli(
        "outboxkit.cli.replay",
        "order.events",
        "--partition",
        str(partition),
        "--from-offset",
        str(offset),
        "--json",
    )
    first = json.loads(exact.stdout.splitlines()[0])
    assert (first["partition"], first["offset"], first["key"]) == (partition, offset, order_id)
    assert all(json.loads(line)["partition"] == partition for line in exact.stdout.splitlines())
    later = cli(
        "outboxkit.cli.replay",
        "order.events",
        "--key",
        order_id,
        "--from-time",
        (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    )
    assert later.returncode == 0 and later.stdout == ""
    none = cli("outboxkit.cli.replay", "order.events", "--key", order_id, "--type", "OrderConfirmed")
    assert none.returncode == 0 and none.stdout == ""
