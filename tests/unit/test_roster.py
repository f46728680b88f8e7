"""One roster: a service added to it is known to everything that lists services, with no other
file edited (the stack's databases and users, the connectors, serve, the fault suite, the Kafka
ACLs, the health ports, the ops page)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import kafka_access
from outboxkit.base.settings import Settings
from outboxkit.service import roster
from outboxkit.service.provisioning import provisioning_sql
from outboxkit.service.roster import PER_SERVER, PER_SERVICE, ROSTER_ENV, RosterError, outbox_connectors
from services import ROSTER, flow_services
from services.instances import ServiceInstance

# A fourth service, written as a team would: its own folder (a package with a main.py whose
# SERVICE describes it), and a roster that lists it after this project's services.
PROBE_MAIN = """
from sqlalchemy import MetaData

from outboxkit import ServiceDefinition, SqlUnitOfWork
from services import SCHEMAS

SERVICE = ServiceDefinition(
    name="loyalty",
    module=__spec__.name,
    health_port=9199,
    metadata=MetaData(),
    consumes=["order"],
    handlers={},
    unit_of_work=SqlUnitOfWork.factory,
    schemas=SCHEMAS,  # it reads the order flow's events
)
"""


@pytest.fixture
def roster_with_a_new_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package = tmp_path / "probe_roster"
    (package / "loyalty").mkdir(parents=True)
    (package / "loyalty" / "__init__.py").write_text("")
    (package / "loyalty" / "main.py").write_text(PROBE_MAIN)
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        import importlib

        import services


        def roster():
            return [*services.roster(), importlib.import_module("probe_roster.loyalty.main").SERVICE]
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(ROSTER_ENV, "probe_roster")
    roster.service_definitions.cache_clear()
    yield
    roster.service_definitions.cache_clear()
    for name in [m for m in sys.modules if m.startswith("probe_roster")]:
        del sys.modules[name]


def test_this_projects_roster_lists_each_service_once() -> None:
    definitions = roster.service_definitions()
    assert [d.module for d in definitions] == [f"services.{package}.main" for package in ROSTER]
    assert flow_services() == ("order", "inventory", "payment", "points")  # the read model has no outbox
    assert [c.name for c in outbox_connectors(layout=PER_SERVICE)] == [
        "order-outbox",
        "inventory-outbox",
        "payment-outbox",
        "points-outbox",
    ]
    assert [c.name for c in outbox_connectors(layout=PER_SERVER)] == ["outbox"]
    assert roster.service("order_view").group_id == "order-view"


def test_a_service_added_to_the_roster_is_known_everywhere(roster_with_a_new_service: None) -> None:
    loyalty = roster.service("loyalty")
    assert loyalty.group_id == "loyalty-service" and loyalty.database_name == "loyalty_db"
    # register_connectors.py: the server's connector publishes its outbox too; or, per service, a
    # connector of its own from the template, with a replica id of its own.
    assert "loyalty_db.outbox" in outbox_connectors(layout=PER_SERVER)[0].outboxes
    connector = next(c for c in outbox_connectors(layout=PER_SERVICE) if c.name == "loyalty-outbox")
    assert connector.databases == ["loyalty_db"]
    assert connector.config["table.include.list"] == "loyalty_db.outbox,loyalty_db.cdc_heartbeat"
    assert len({c.config["database.server.id"] for c in outbox_connectors(layout=PER_SERVICE)}) == 5
    # stack up and scripts/provision_databases.py (compose): its database, user and heartbeat table.
    sql = provisioning_sql(
        Settings({"DB_PASSWORD_SECRET": "s", "CDC_DB_PASSWORD": "c"}), roster.service_definitions()
    )
    assert "CREATE DATABASE IF NOT EXISTS loyalty_db" in sql
    assert "GRANT ALL PRIVILEGES ON loyalty_db.* TO 'loyalty_svc'@'%'" in sql
    assert "GRANT INSERT, UPDATE ON loyalty_db.cdc_heartbeat TO 'cdc'@'%'" in sql
    # The fault suite, the demo and the benchmarks start every flow service; serve every service.
    assert "loyalty" in flow_services()
    assert "loyalty.events" in roster.flow_topics()
    # A locked-down cluster: its principal may read its inputs and own its dead letters.
    services, _routed, _prefixes = kafka_access.roster()
    access = next(s for s in services if s.group == "loyalty-service")
    assert access.inputs == ("order.events",)
    assert "loyalty-service" in kafka_access.principals()
    assert {g.name for g in access.grants()} >= {"order.events", "loyalty-service.dlq"}
    # serve.py, the fault suite and the tests start it as its own process.
    assert ServiceInstance("loyalty", "probe").command()[-3:] == ["-m", "probe_roster.loyalty.main", "run"]


def test_two_services_with_one_database_or_port_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clashing_roster.py").write_text(
        textwrap.dedent("""
        import dataclasses

        import services


        def roster():
            first = services.roster()[1]
            return [first, dataclasses.replace(first, name="stock", health_port=first.health_port)]
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    roster.service_definitions.cache_clear()
    try:
        with pytest.raises(RosterError, match="share the health port 9102"):
            roster.service_definitions("clashing_roster")
        with pytest.raises(RosterError, match="'no_such_module' cannot be imported"):
            roster.service_definitions("no_such_module")
    finally:
        roster.service_definitions.cache_clear()


def test_every_service_of_the_roster_has_a_console_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup.py derives them from the roster, reading each main.py without importing it."""
    import runpy

    import setuptools

    captured: dict[str, object] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "setup.py"), run_name="setup_probe")
    scripts = dict(line.split(" = ") for line in captured["entry_points"]["console_scripts"])  # type: ignore[index]
    for definition in roster.service_definitions():
        assert scripts[definition.group_id] == f"{definition.module}:main"


def test_a_roster_that_cannot_be_loaded_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from outboxkit.cli import run_cli

    roster.service_definitions.cache_clear()
    try:
        assert run_cli("register_connectors", lambda: len(roster.service_definitions("no_such_roster"))) == 2
    finally:
        roster.service_definitions.cache_clear()
    assert "the roster module 'no_such_roster' cannot be imported" in capsys.readouterr().err


def test_an_instance_reads_the_env_file_its_starter_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance runs in the repository's root; compose's ``OUTBOXKIT_ENV_FILE=.env``, named from
    the user's checkout, must still name that checkout's file there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTBOXKIT_ENV_FILE", ".env")
    assert ServiceInstance("order", "probe").env["OUTBOXKIT_ENV_FILE"] == str(tmp_path / ".env")
    named = ServiceInstance("order", "probe", {"OUTBOXKIT_ENV_FILE": "~/team.env"})
    assert named.env["OUTBOXKIT_ENV_FILE"] == str(Path.home() / "team.env")
