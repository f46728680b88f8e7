"""The web page in a real headless Chromium (Debian's chromium + chromedriver, through Selenium):
place an order, see the syncing banner while the read model is stopped, see it clear by itself
once it runs again, and the final status; an order paying partly with points whose charge is
declined, and its points coming back. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import uuid

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.instances import ApiInstance
from services.points.commands import set_points
from tests.e2e.conftest import SCREENSHOTS, ReadModel
from tests.e2e.probes import new_sku

pytestmark = pytest.mark.stack


def text_of(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def test_the_page_shows_the_banner_while_the_view_is_behind_and_clears_it_by_itself(
    ctx, api: ApiInstance, read_model: ReadModel, browser: WebDriver
) -> None:
    sku = new_sku(ctx, 5)
    # The page re-renders its tables on every poll: an element read mid-render is simply read again.
    wait = WebDriverWait(browser, 60, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    read_model.stop()
    try:
        browser.get(f"{api.url}/")
        customer = browser.find_element(By.ID, "customer")
        customer.clear()
        customer.send_keys("browser-test")
        line_sku = browser.find_element(By.CSS_SELECTOR, "#lines .line .line-sku")
        line_sku.clear()
        line_sku.send_keys(sku)
        browser.save_screenshot(str(SCREENSHOTS / "1-form.png"))
        browser.find_element(By.ID, "place-button").click()
        wait.until(lambda b: "#/orders/" in b.current_url)
        order_id = browser.current_url.rsplit("/", 1)[1]
        banner = browser.find_element(By.ID, "sync-banner")
        wait.until(lambda _b: banner.is_displayed() and "Syncing" in banner.text)
        assert "version(s) behind" in banner.text
        browser.save_screenshot(str(SCREENSHOTS / "2-syncing-banner.png"))
        assert text_of(browser, "order-status") == "not in the view yet"
    finally:
        read_model.start()
    wait.until(lambda _b: not banner.is_displayed())
    wait.until(lambda b: text_of(b, "order-status") == "CONFIRMED")
    assert text_of(browser, "order-customer") == "browser-test"
    # The view applies the three topics at their own pace: the other steps may follow the status.
    wait.until(
        lambda b: (
            len(rows := b.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")) >= 4
            and "OrderCreated" in rows[0].text
        )
    )
    browser.save_screenshot(str(SCREENSHOTS / "3-confirmed.png"))

    browser.get(f"{api.url}/#/")
    wait.until(
        lambda b: any(
            row.get_attribute("data-id") == order_id and "CONFIRMED" in row.text
            for row in b.find_elements(By.CSS_SELECTOR, "#orders-list tbody tr")
        )
    )
    browser.save_screenshot(str(SCREENSHOTS / "4-list.png"))


def test_a_malformed_order_is_refused_on_the_page_with_the_field_named(
    api: ApiInstance, browser: WebDriver
) -> None:
    browser.get(f"{api.url}/")
    currency = browser.find_element(By.ID, "currency")
    currency.clear()
    currency.send_keys("EU")  # the browser lets it through (maxlength only); the API does not
    browser.find_element(By.ID, "place-button").click()
    error = browser.find_element(By.ID, "place-error")
    WebDriverWait(browser, 30).until(lambda _b: error.is_displayed())
    assert error.text.startswith("body.currency:")
    assert "#/orders/" not in browser.current_url
    browser.save_screenshot(str(SCREENSHOTS / "5-refused.png"))


def test_a_points_redemption_and_its_compensation_on_the_page(
    ctx, api: ApiInstance, read_model: ReadModel, browser: WebDriver
) -> None:
    customer = f"browser-points-{uuid.uuid4().hex[:6]}"
    set_points(ctx["points"].uow_factory, customer, 1000)
    sku = new_sku(ctx, 5)
    wait = WebDriverWait(browser, 90, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    browser.get(f"{api.url}/")
    for element_id, value in (("customer", customer), ("points", "500")):
        field = browser.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)
    for selector, value in ((".line-sku", sku), (".line-price", "60000")):  # over the card limit
        field = browser.find_element(By.CSS_SELECTOR, f"#lines .line {selector}")
        field.clear()
        field.send_keys(value)
    Select(browser.find_element(By.ID, "flow")).select_by_value("orchestrated")
    browser.find_element(By.ID, "place-button").click()
    wait.until(lambda b: "#/orders/" in b.current_url)
    # Declined after the points were deducted: they come back, then the stock is released.
    wait.until(lambda b: text_of(b, "order-points") == "500: RETURNED")
    assert text_of(browser, "order-status") == "CANCELLED"
    wait.until(
        lambda b: (
            {"PointsDeducted", "PointsReturned", "StockReleased"}
            <= {
                row.find_elements(By.TAG_NAME, "td")[1].text
                for row in b.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
            }
        )
    )
    browser.save_screenshot(str(SCREENSHOTS / "6-points-returned.png"))
    browser.get("about:blank")  # the order's page polls the API; the API stops after the test
