"""The Kubernetes manifests' connectors, proved on the cluster that exists here: each rendered
``KafkaConnector`` (its host names mapped to the native cluster's) registered on the cluster's two
Connect workers, orders of both saga styles through it, and ``register-connectors`` finding the
same config already registered, so the saga tests of the phase run on it too (``./run test``
runs this module first in the cluster phase)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.stack import Stack
from outboxkit.base.settings import Settings
from outboxkit.cdc.connect_client import ConnectClient
from services.contracts import FLOWS
from services.instances import register_connectors
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from tests.e2e.probes import new_sku, stock, wait_final
from tests.programs import run_program

pytestmark = [
    pytest.mark.stack,
    pytest.mark.cluster,
    pytest.mark.skipif(
        not Stack().topology.cluster,
        reason="these run on `stack up --brokers 3` (./run test has a phase for them)",
    ),
]

# Names only a Kubernetes cluster resolves, mapped below to where the native cluster listens.
K8S_DB_HOST = "mysql.databases.svc"
K8S_BOOTSTRAP = "outbox-kafka-bootstrap:9092"


def rendered_connectors(out: Path) -> dict[str, dict[str, Any]]:
    result = run_program(
        "stack",
        "k8s",
        "render",
        "--out",
        str(out),
        "--namespace",
        "shop",
        "--registry",
        "registry.example.com/team",
        "--db-host",
        K8S_DB_HOST,
        "--db-port",
        "3306",
        "--database-kind",
        "mariadb",  # the native cluster's server
    )
    assert result.returncode == 0, result.stderr
    connectors = {}
    for document in yaml.safe_load_all((out / "40-connect.yaml").read_text()):
        if document and document["kind"] == "KafkaConnector":
            spec = document["spec"]
            connectors[document["metadata"]["name"]] = {
                **spec["config"],
                "connector.class": spec["class"],
                "tasks.max": str(spec["tasksMax"]),
            }
    assert connectors
    return connectors


def mapped(config: dict[str, Any], settings: Settings) -> dict[str, str]:
    """The host names of the manifests, as Connect on this machine reaches the same parts."""
    here = {
        K8S_DB_HOST: settings.get("CONNECT_DB_HOST", "") or settings.db_host,
        "3306": str(int(settings.get("CONNECT_DB_PORT", "0")) or settings.db_port),
        K8S_BOOTSTRAP: settings.get("CONNECT_KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers),
    }
    result = {key: str(value) for key, value in config.items()}
    for key, value in result.items():
        if value in here and key in (
            "database.hostname",
            "database.port",
            "schema.history.internal.kafka.bootstrap.servers",
        ):
            result[key] = here[value]
    assert result["database.hostname"] != K8S_DB_HOST and K8S_BOOTSTRAP not in result.values()
    return result


def test_the_rendered_connectors_run_the_saga_on_the_cluster(ctx, settings, tmp_path):
    client = ConnectClient(settings.connect_url)
    rendered = {name: mapped(config, settings) for name, config in rendered_connectors(tmp_path).items()}
    assert sorted(rendered) == sorted(client.connectors())
    for name, config in rendered.items():
        client.put_config(name, config)
    for name, config in rendered.items():
        client.wait_until_running(name, 120)
        stored = {k: v for k, v in client.config(name).items() if k != "name"}
        assert stored == config, f"{name}: Connect holds another config than the manifest's"

    sku = new_sku(ctx, 10)
    orders = [
        place_order(ctx["order"].uow_factory, "k8s-manifests", [OrderLine(sku, 1, 100)], flow=flow)
        for flow in FLOWS
    ]
    assert [wait_final(ctx, order.id) for order in orders] == [OrderStatus.CONFIRMED] * len(FLOWS)
    assert stock(ctx, sku) == (10 - len(FLOWS), len(FLOWS))

    # The roster's own registration finds exactly the manifests' configs in place.
    again = register_connectors()
    assert again.returncode == 0, again.stderr
    for name in rendered:
        assert f"{name} is registered with this config already" in again.stdout, again.stdout


def test_the_preflight_the_manifests_run_passes_on_the_cluster(settings):
    """The outbox-preflight Job's checks, against the cluster's database and brokers."""
    database = run_program("outboxkit", "register-connectors", "--check-database")
    assert database.returncode == 0, database.stdout + database.stderr
    assert "[ok] binlog_format: ROW" in database.stdout
    assert "the database server can feed every outbox connector" in database.stdout
    kafka = run_program("outboxkit", "register-connectors", "--check-kafka")
    assert kafka.returncode == 0, kafka.stdout + kafka.stderr
