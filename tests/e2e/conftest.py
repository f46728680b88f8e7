"""The three services as real processes, for the saga tests; a poisoned product; a browser."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from outboxkit.base.settings import Settings
from outboxkit.kafka.clients import CommittedOffsets, admin_client
from outboxkit.kafka.partitioning import group_backlog
from services import flow_services
from services.instances import ApiInstance, ServiceInstance
from tests.backends import StackBackend
from tests.conftest import ROOT, wait_until
from tests.e2e.probes import new_sku

SCREENSHOTS = ROOT / "test-artifacts" / "web"

# Payments over 500.00 are declined; saga timeouts are kept out of the way of these tests.
SERVICE_ENV = {"PAYMENT_LIMIT_CENTS": "50000", "ORDER_SAGA_TIMEOUT_S": "900"}


class ServiceProcess(ServiceInstance):
    """One service instance for a test, with the tests' settings; its log is test-<service>-N.log."""

    count = 0

    def __init__(self, service: str, **env: str) -> None:
        ServiceProcess.count += 1
        super().__init__(service, f"test-{service}-{ServiceProcess.count}", {**SERVICE_ENV, **env})


@pytest.fixture(scope="package")
def services(connectors: None) -> Iterator[dict[str, ServiceProcess]]:
    running = {name: ServiceProcess(name).start() for name in flow_services()}
    for process in running.values():
        process.wait_assigned()
    yield running
    for name, process in running.items():
        if process.alive():
            code = process.stop()
            assert code == 0, f"{name} did not drain cleanly (exit {code}):\n{process.log_text()[-3000:]}"


@pytest.fixture
def ctx(contexts, services):
    """The services' contexts (engines, outbox writers), with the flow's services running."""
    return contexts


@contextmanager
def swapped_service(services: dict[str, ServiceProcess], name: str, **env: str) -> Iterator[ServiceProcess]:
    """Run one service with extra settings for the block, then put a default instance back."""
    assert services[name].stop() == 0
    special = ServiceProcess(name, **env).start()
    services[name] = special
    try:
        special.wait_assigned()
        yield special
    finally:
        if special.alive():
            assert special.stop() == 0, f"{name} did not drain cleanly:\n{special.log_text()[-3000:]}"
        services[name] = ServiceProcess(name).start()
        services[name].wait_assigned()


VIEW_TOPICS = ("order.events", "inventory.events", "payment.events")


class ReadModel:
    """The read model (order-view) as its own process, which a test may stop and start again."""

    def __init__(self) -> None:
        self.instance = ServiceProcess("order_view")

    def start(self) -> None:
        self.instance.start().wait_assigned()
        try:
            self._wait_caught_up()
        except BaseException:
            # A view left running would join the next stack's group (a later phase of ./run test
            # on the same ports) and hold partitions there without reaching its database.
            self.instance.stop()
            raise

    def _wait_caught_up(self) -> None:
        # On a machine whose topics hold more than this session wrote (benchmarks run while the
        # view was not), the view first catches up; the tests then time what they do, not that.
        settings = Settings.load()
        admin = admin_client(settings.kafka_bootstrap_servers)
        with CommittedOffsets(settings.kafka_bootstrap_servers) as committed:
            wait_until(
                lambda: (
                    sum(
                        group_backlog(admin, committed, settings.kafka_bootstrap_servers, "order-view", topic)
                        for topic in VIEW_TOPICS
                    )
                    < 100
                ),
                540,
                "the read model to catch up with its topics",
            )

    def stop(self) -> None:
        if self.instance.alive():
            code = self.instance.stop()
            log = self.instance.log_text()[-3000:]
            assert code == 0, f"order-view did not drain cleanly (exit {code}):\n{log}"


@pytest.fixture(scope="package")
def read_model(services: dict[str, ServiceProcess]) -> Iterator[ReadModel]:
    model = ReadModel()
    model.start()
    yield model
    model.stop()


@pytest.fixture(scope="package")
def api(read_model: ReadModel) -> Iterator[ApiInstance]:
    """The order API as a real HTTP server (the browser needs one), with the read model running."""
    instance = ApiInstance(f"test-order-api-{ServiceProcess.count}", env=SERVICE_ENV)
    instance.start()
    instance.wait_serving()
    yield instance
    assert instance.stop() == 0, f"order-api did not stop cleanly:\n{instance.log_text()[-3000:]}"


@pytest.fixture
def poisoned_sku(ctx, stack) -> Iterator[tuple[str, StackBackend, str]]:
    sku = new_sku(ctx, 5)
    trigger = f"poison_{uuid.uuid4().hex[:8]}"
    database = stack  # the stack's own server, as its root user
    database.run_sql(
        f"DELIMITER //\nCREATE TRIGGER inventory_db.{trigger} BEFORE UPDATE ON inventory_db.products "
        f"FOR EACH ROW IF NEW.sku = '{sku}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'product "
        f"{sku} is poisoned'; END IF//\nDELIMITER ;\n"
    )
    yield sku, database, trigger
    database.run_sql(f"DROP TRIGGER IF EXISTS inventory_db.{trigger}")


@pytest.fixture(scope="package")
def browser() -> Iterator[WebDriver]:
    chromium, driver_binary = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_binary, "chromium and chromium-driver are missing (./run test installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_binary), options=options)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
