"""The operations page in a real headless Chromium: the connectors streaming with their binlog
headroom, the consumer groups, a dead letter with its error; after the fix, its Re-inject button
applies it (the order then completes) and the page clears. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from outboxkit.service.roster import outbox_connectors
from services.instances import ApiInstance
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from tests.conftest import wait_until
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.probes import pending_dead_letters, wait_final

pytestmark = pytest.mark.stack


def rows(browser: WebDriver, table: str) -> list[str]:
    return [row.text for row in browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_an_operator_sees_the_pipeline_and_reinjects_a_dead_letter_from_the_page(
    ctx, api: ApiInstance, browser: WebDriver, poisoned_sku
) -> None:
    sku, database, trigger = poisoned_sku
    order_id = place_order(ctx["order"].uow_factory, "ops-page", [OrderLine(sku, 1, 100)]).id
    wait_until(
        lambda: any(r.record_key == order_id for r in pending_dead_letters(ctx, "inventory")),
        60,
        "the poisoned reservation to be dead-lettered",
    )
    wait = WebDriverWait(browser, 60, poll_frequency=0.3, ignored_exceptions=[StaleElementReferenceException])
    browser.set_window_size(1200, 1250)
    browser.get(f"{api.url}/ops")

    connectors = sorted(d.name for d in outbox_connectors())
    wait.until(
        lambda b: (
            len(rows(b, "connectors")) == len(connectors)
            and all("streaming" in r and "OK" in r for r in rows(b, "connectors"))
        )
    )
    assert all("binlogs are kept" in r for r in rows(browser, "connectors"))
    # Debezium's own behind-source and queue, from the Connect worker's metrics page.
    wait.until(lambda b: all(", queue " in r for r in rows(b, "connectors")))
    assert {r.split()[0] for r in rows(browser, "groups")} >= {
        "order-service",
        "inventory-service",
        "payment-service",
        "order-view",
    }
    wait.until(lambda b: any(order_id in r and "is poisoned" in r for r in rows(b, "dead-letters")))
    summary = browser.find_element(By.ID, "ops-summary").text
    # The banner counts what is pending (on a long-lived stack, more than this test's one).
    state = requests.get(f"{api.url}/ops/state", timeout=30).json()
    pending = next(g for g in state["groups"] if g["group"] == "inventory-service")["deadLetters"]["pending"]
    assert pending >= 1
    assert summary.startswith("Needs attention") and f"inventory-service: {pending} dead letter(s)" in summary
    browser.save_screenshot(str(SCREENSHOTS / "6-ops-dead-letter.png"))

    # A selection that names nothing, or nothing pending, is refused in one line.
    assert post(f"{api.url}/ops/dead-letters/inventory-service/reinject", {})[0] == 422
    status, answer = post(f"{api.url}/ops/dead-letters/no-such-group/reinject", {"all": True})
    assert status == 404 and "no consumer group no-such-group" in answer["error"]
    status, answer = post(f"{api.url}/ops/dead-letters/inventory-service/reinject", {"key": "nobody"})
    assert status == 404 and "no pending dead letter with key nobody" in answer["error"]

    database.run_sql(f"DROP TRIGGER inventory_db.{trigger}")  # the fix
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr") if order_id in r.text
    )
    row.find_element(By.CSS_SELECTOR, "button.reinject").click()
    message = browser.find_element(By.ID, "ops-message")
    wait.until(lambda _b: message.is_displayed() and "Re-injected 1 record(s)" in message.text)
    assert f"key {order_id} into inventory-service.retry" in message.text
    assert wait_final(ctx, order_id) is OrderStatus.CONFIRMED
    wait.until(lambda b: not any(order_id in r for r in rows(b, "dead-letters")))
    browser.save_screenshot(str(SCREENSHOTS / "7-ops-reinjected.png"))
    browser.set_window_size(1200, 900)
