"""The read model and the order API as real processes next to the three services: read-your-writes,
a stopped read model, a rebuild from the topics, and every process's Prometheus metrics."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from outboxkit.base.settings import Settings
from outboxkit.storage.db import make_engine
from services.instances import ApiInstance
from services.order_view.tables import messaging as view_messaging, order_view_timeline, order_views
from tests.conftest import ROOT, wait_until
from tests.e2e.conftest import ReadModel
from tests.e2e.probes import new_sku

pytestmark = pytest.mark.stack
dead_letters = view_messaging.dead_letters
FINAL = ("CONFIRMED", "CANCELLED")


def place(api: ApiInstance, sku: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    answer = requests.post(
        f"{api.url}/orders",
        timeout=30,
        json={
            "customerId": "view-test",
            "lines": [{"sku": sku, "quantity": quantity, "unitPriceCents": 250}],
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def read(api: ApiInstance, order_id: str, min_version: int | None = None) -> dict[str, Any]:
    params = {"min_version": min_version} if min_version else {}
    answer = requests.get(f"{api.url}/orders/{order_id}", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def wait_settled(api: ApiInstance, order_id: str) -> dict[str, Any]:
    def settled() -> bool:
        answer = read(api, order_id)
        return answer["sync"]["state"] == "in_sync" and (answer["view"] or {}).get("status") in FINAL

    wait_until(settled, 120, f"order {order_id} to be final and in sync")
    return read(api, order_id)


def test_a_placed_order_becomes_in_sync_and_final(ctx, api: ApiInstance) -> None:
    order = place(api, new_sku(ctx, 5), 2)
    settled = wait_settled(api, order["id"])
    view = settled["view"]
    assert view["status"] == "CONFIRMED" and view["totalCents"] == 500
    assert (view["stock"]["outcome"], view["payment"]["outcome"]) == ("RESERVED", "COMPLETED")
    sync = settled["sync"]
    assert view["versions"]["order"] == sync["appliedVersion"] == sync["expectedVersion"]
    types = [e["eventType"] for e in view["timeline"]]
    assert types[0] == "OrderCreated"
    assert set(types) >= {"StockReserved", "PaymentCompleted", "OrderConfirmed"}


def test_with_the_read_model_stopped_the_order_is_pending_until_it_runs_again(
    ctx, api: ApiInstance, read_model: ReadModel
) -> None:
    read_model.stop()
    try:
        order = place(api, new_sku(ctx, 5))
        time.sleep(2.0)
        behind = read(api, order["id"], order["version"])
        assert behind["sync"]["state"] == "pending" and behind["view"] is None
        assert behind["sync"]["versionsBehind"] >= 1 and behind["sync"]["secondsBehind"] >= 1.5
    finally:
        read_model.start()
    assert wait_settled(api, order["id"])["view"]["status"] == "CONFIRMED"


def snapshot(api: ApiInstance, order_ids: list[str]) -> dict[str, Any]:
    return {order_id: read(api, order_id)["view"] for order_id in order_ids}


def every_view(settings: Settings) -> tuple[dict[str, tuple[Any, ...]], set[str]]:
    """Every view in query_db (its row and how many timeline entries it has), and the keys the
    read model holds dead letters for."""
    engine = make_engine(settings.db_url("query"))
    try:
        with engine.connect() as connection:
            troubled = set(
                connection.execute(
                    select(dead_letters.c.record_key).where(dead_letters.c.consumer_group == "order-view")
                ).scalars()
            )
            entries: dict[str, int] = dict(
                connection.execute(  # type: ignore[arg-type]
                    select(order_view_timeline.c.order_id, func.count()).group_by(
                        order_view_timeline.c.order_id
                    )
                ).all()
            )
            return {
                row.order_id: (*row, entries.get(row.order_id, 0))
                for row in connection.execute(select(order_views))
            }, troubled
    finally:
        engine.dispose()


def view_lag(read_model: ReadModel) -> float:
    assert read_model.instance.health_url is not None
    lag = metric_families(read_model.instance.health_url)["outboxkit_consumer_lag_records"]
    return float(sum(sample.value for sample in lag.samples))


def test_a_rebuild_from_the_topics_yields_the_same_views(
    ctx, settings: Settings, api: ApiInstance, read_model: ReadModel
) -> None:
    scarce = new_sku(ctx, 1)
    orders = [
        place(api, new_sku(ctx, 5))["id"],
        place(api, scarce)["id"],
        place(api, scarce)["id"],
        place(api, new_sku(ctx, 5), flow="orchestrated")["id"],
        place(api, new_sku(ctx, 5), 300, flow="orchestrated")["id"],
    ]  # 750.00: declined
    for order_id in orders:
        wait_settled(api, order_id)
    # Compensations (a release, a refund) may follow the final status: wait until nothing changes.
    before = snapshot(api, orders)
    for _ in range(20):
        time.sleep(2.0)
        latest = snapshot(api, orders)
        if latest == before:
            break
        before = latest
    statuses = sorted(view["status"] for view in before.values())
    assert statuses == ["CANCELLED", "CANCELLED", "CONFIRMED", "CONFIRMED", "CONFIRMED"]

    rebuild = [sys.executable, "-m", "services.order_view.main", "rebuild"]
    running = subprocess.run([*rebuild, "--yes"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert running.returncode == 2 and "order-view is running" in running.stderr
    wait_until(lambda: view_lag(read_model) == 0, 60, "the read model to apply everything")
    read_model.stop()
    try:
        everything, troubled = every_view(settings)
        assert set(orders) <= set(everything)
        unconfirmed = subprocess.run(
            rebuild, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        assert unconfirmed.returncode == 2 and "refusing without --yes" in unconfirmed.stderr
        assert every_view(settings) == (everything, troubled)
        rebuilt = subprocess.run([*rebuild, "--yes"], cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "rebuilt from" in rebuilt.stdout and "every partition is read to its end" in rebuilt.stderr
        assert snapshot(api, orders) == before
        # Keys with dead letters aside (then or now): a record that could not be applied before
        # may be applicable in a rebuild (another test's poison record whose schema id exists
        # now), and that is the rebuild doing its job, not a difference.
        rebuilt_views, troubled_now = every_view(settings)
        aside = troubled | troubled_now
        assert {k: v for k, v in rebuilt_views.items() if k not in aside} == {
            k: v for k, v in everything.items() if k not in aside
        }
    finally:
        read_model.start()


def metric_families(health_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(health_url.replace("/health", "/metrics"), timeout=10) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_service_process_serves_prometheus_metrics(
    ctx, api: ApiInstance, services, read_model: ReadModel
) -> None:
    wait_settled(api, place(api, new_sku(ctx, 5))["id"])
    for process in [*services.values(), read_model.instance]:
        assert process.health_url, process.log_text()[-2000:]
        families = metric_families(process.health_url)
        outcomes = {s.labels["outcome"] for s in families["outboxkit_records"].samples}
        assert {"processed", "duplicates", "stale", "dead_lettered"} <= outcomes
        assert "outboxkit_consumer_lag_records" in families
        assert "process_resident_memory_bytes" in families
    view_families = metric_families(read_model.instance.health_url)  # type: ignore[arg-type]
    applied = [
        s
        for s in view_families["outboxkit_commit_to_apply_seconds"].samples
        if s.name.endswith("_count") and s.labels["topic"] == "order.events"
    ]
    assert applied and applied[0].value >= 1
