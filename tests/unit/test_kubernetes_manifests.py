"""The Kubernetes manifests (``stack k8s render``), checked offline: every resource against its
schema (Strimzi's CRDs, Kubernetes' own), and against the sources they are rendered from: the
connectors ``register-connectors`` registers, the roster's topics and ACLs, the settings each
service reads. No test here needs a cluster."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.kubernetes import strimzi, workloads
from devstack.kubernetes.render import every_resource, read_manifests, render
from devstack.kubernetes.sizing import Size, load_sizing, size_from, size_of, sizing_from_report
from devstack.kubernetes.target import Target, TargetError
from devstack.kubernetes.validate import validate_all, validate_resource
from outboxkit import Settings
from outboxkit.ops import (
    dead_letter_topic_for,
    kafka_grants,
    outbox_connectors,
    retry_topic_for,
    roster_services,
    routed_topics,
    schema_catalog,
)
from tests.programs import run_program

CHECKOUT = Path(__file__).resolve().parents[2]
TARGET = Target(
    namespace="shop",
    registry="registry.example.com/team",
    image_tag="1.2.3",
    db_host="mysql.databases.svc",
    db_port=3306,
)


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return every_resource(render(TARGET))


def of_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def test_every_rendered_resource_matches_its_schema(resources: list[dict[str, Any]]) -> None:
    kinds = {r["kind"] for r in resources}
    assert {"KafkaNodePool", "Kafka", "KafkaConnect", "KafkaConnector", "KafkaTopic", "KafkaUser"} <= kinds
    assert {"Deployment", "Service", "ConfigMap", "Job", "Namespace"} <= kinds
    assert validate_all(resources) == []
    assert {r["metadata"].get("namespace", "shop") for r in resources} == {"shop"}


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("Kafka", ("spec", "kafka"), "listenerz"),
        ("KafkaConnect", ("spec", "build"), "pluginz"),
        ("KafkaUser", ("spec",), "acl"),
        ("Deployment", ("spec", "template", "spec"), "terminationGracePeriod"),
        ("Service", ("spec",), "portz"),
    ],
)
def test_the_check_is_strict_a_misspelt_field_is_an_error(
    resources: list[dict[str, Any]], kind: str, path: tuple[str, ...], field: str
) -> None:
    """The API server's strict validation refuses a field its schema does not name (else it drops it
    silently): so does the offline check, for Strimzi's kinds and the core ones alike."""
    broken = copy.deepcopy(next(r for r in resources if r["kind"] == kind))
    node = broken
    for part in path:
        node = node[part]
    node[field] = "x"
    problems = validate_resource(broken)
    assert problems and f"'{field}' was unexpected" in problems[0].message, problems


def test_a_wrong_type_or_missing_field_is_an_error(resources: list[dict[str, Any]]) -> None:
    pool = copy.deepcopy(next(r for r in resources if r["kind"] == "KafkaNodePool"))
    pool["spec"]["replicas"] = "three"
    assert any("is not of type 'integer'" in p.message for p in validate_resource(pool))
    deployment = copy.deepcopy(next(r for r in resources if r["kind"] == "Deployment"))
    del deployment["spec"]["selector"]
    assert any("'selector' is a required property" in p.message for p in validate_resource(deployment))


def test_kafka_is_a_three_node_kraft_cluster_with_scram_acls_and_durable_topics(
    resources: list[dict[str, Any]],
) -> None:
    pool = of_kind(resources, "KafkaNodePool")["dual-role"]["spec"]
    assert pool["replicas"] == 3 and pool["roles"] == ["controller", "broker"]
    kafka = of_kind(resources, "Kafka")["outbox"]["spec"]["kafka"]
    assert kafka["listeners"][0]["authentication"] == {"type": "scram-sha-512"}
    assert kafka["authorization"] == {"type": "simple", "superUsers": ["admin"]}
    config = kafka["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["unclean.leader.election.enable"] == "false"
    # What Strimzi owns (listeners, node ids, the quorum) is not set twice.
    assert not [k for k in config if k.startswith(("listener", "broker.", "controller.", "node.id"))]


def test_connect_runs_two_exactly_once_workers_with_the_pinned_debezium(
    resources: list[dict[str, Any]],
) -> None:
    connect = of_kind(resources, "KafkaConnect")["outbox-connect"]
    assert connect["metadata"]["annotations"]["strimzi.io/use-connector-resources"] == "true"
    spec = connect["spec"]
    assert spec["replicas"] == 2 and spec["config"]["exactly.once.source.support"] == "enabled"
    assert spec["authentication"]["username"] == "connect"
    versions = dict(
        line.split("=", 1)
        for line in (Path(__file__).parents[2] / "stack" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    urls = [a["url"] for p in spec["build"]["plugins"] for a in p["artifacts"]]
    assert urls and all(f"/{versions['DEBEZIUM_VERSION']}/" in url for url in urls)
    assert all(len(a["sha512sum"]) == 128 for p in spec["build"]["plugins"] for a in p["artifacts"])
    assert spec["version"] == versions["KAFKA_VERSION"]
    # The env config provider resolves the connectors' ${env:...}: each one has its variable.
    env = {e["name"] for e in spec["template"]["connectContainer"]["env"]}
    for connector in of_kind(resources, "KafkaConnector").values():
        referenced = {
            value.split("${env:")[1].split("}")[0]
            for value in map(str, connector["spec"]["config"].values())
            if "${env:" in value
        }
        assert referenced and referenced <= env, (referenced, env)


def dry_run(layout: str) -> list[dict[str, Any]]:
    """What ``register-connectors`` would send to Connect running where the manifests put it."""
    result = run_program(
        "outboxkit",
        "register-connectors",
        "--dry-run",
        "--server",
        TARGET.database_kind,
        "--db-host",
        TARGET.db_host,
        "--db-port",
        str(TARGET.db_port),
        "--connect-kafka-bootstrap",
        TARGET.kafka_bootstrap,
        env={
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_USERNAME": "admin",
            "KAFKA_PASSWORD": "unused",
            "CDC_CONNECTORS": layout,
        },
    )
    assert result.returncode == 0, result.stderr
    sent: list[dict[str, Any]] = json.loads(result.stdout)
    return sent


@pytest.mark.parametrize("layout", ["per-server", "per-service"])
def test_each_kafka_connector_is_what_register_connectors_sends_key_by_key(layout: str) -> None:
    target = Target(**{**TARGET.__dict__, "connector_layout": layout})
    rendered = {
        r["metadata"]["name"]: r["spec"]
        for r in every_resource(render(target))
        if r["kind"] == "KafkaConnector"
    }
    sent = {c["name"]: c["config"] for c in dry_run(layout)}
    assert sorted(rendered) == sorted(sent) and sent
    for name, spec in rendered.items():
        as_connect_sees_it = {
            **spec["config"],
            "connector.class": spec["class"],
            "tasks.max": str(spec["tasksMax"]),
        }
        for key in sorted(set(as_connect_sees_it) | set(sent[name])):
            assert as_connect_sees_it.get(key) == sent[name].get(key), f"{name}: {key}"


def test_every_topic_a_service_uses_has_a_kafka_topic_and_an_acl(resources: list[dict[str, Any]]) -> None:
    topics = {r["spec"]["topicName"]: r["spec"] for r in of_kind(resources, "KafkaTopic").values()}
    users = of_kind(resources, "KafkaUser")

    def allowed(principal: str, operation: str, topic: str) -> bool:
        for acl in users[principal]["spec"].get("authorization", {}).get("acls", []):
            resource = acl["resource"]
            if resource["type"] != "topic" or not ({operation, "All"} & set(acl["operations"])):
                continue
            literal = resource["patternType"] == "literal" and resource["name"] == topic
            if literal or (resource["patternType"] == "prefix" and topic.startswith(resource["name"])):
                return True
        return False

    for service in roster_services():
        group = service.group_id
        for topic in service.topics:
            assert topic in topics, f"{group} consumes {topic}, which has no KafkaTopic"
            assert allowed(group, "Read", topic), f"{group} may not read {topic}"
        for own in (retry_topic_for(group), dead_letter_topic_for(group)):
            assert own in topics, own
            assert allowed(group, "Write", own) and allowed(group, "Read", own), own
        assert topics[dead_letter_topic_for(group)]["config"]["retention.ms"] == "-1"
    # What the services' outboxes feed is written by Connect alone.
    partitions = max(d.topic_partitions for d in outbox_connectors())
    for topic in routed_topics(schema_catalog()):
        assert topics[topic]["partitions"] == partitions and topics[topic]["replicas"] == 3
        assert allowed("connect", "Write", topic)
        assert not any(allowed(s.group_id, "Write", topic) for s in roster_services()), topic


def test_the_users_acls_are_exactly_those_the_native_cluster_grants(resources: list[dict[str, Any]]) -> None:
    rendered = set()
    for name, user in of_kind(resources, "KafkaUser").items():
        for acl in user["spec"].get("authorization", {}).get("acls", []):
            for operation in acl["operations"]:
                r = acl["resource"]
                rendered.add((name, r["type"], r.get("name", ""), r.get("patternType", ""), operation))
    granted = set()
    for grant in kafka_grants():
        for operation in grant.operations:
            kind = strimzi.RESOURCE_TYPES[grant.resource.name]
            name, pattern = (
                ("", "") if kind == "cluster" else (grant.name, strimzi.PATTERNS[grant.pattern.name])
            )
            granted.add((grant.principal, kind, name, pattern, strimzi.operation_name(operation)))
    assert rendered == granted and rendered
    assert "authorization" not in of_kind(resources, "KafkaUser")["admin"]["spec"]


def container_env(resource: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> dict[str, str]:
    """What the pod's process sees: the ConfigMap's data, then each variable (a Secret's value
    stands in as ``secret:<name>/<key>``)."""
    container = resource["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return env


class ReadSettings(dict[str, str]):
    """A settings mapping that records every key looked up, with the default the reader gave."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: dict[str, object] = {}

    def get(self, key: str, default: Any = None) -> Any:
        self.read.setdefault(key, default)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.setdefault(str(key), None)
        return super().__contains__(key)


class NoKafkaClient:
    """Stands in for a Kafka client the start would create: nothing here may reach a broker."""

    configs: list[dict[str, Any]] = []

    def __init__(self, config: dict[str, Any], *_: object, **__: object) -> None:
        NoKafkaClient.configs.append(config)


def started_with(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, start: Any) -> ReadSettings:
    """Run ``start`` with exactly ``env`` as the process environment, every settings read
    recorded, and the parts that would connect (Kafka clients, the consumer loop, migrations)
    left out; returns what was read."""
    from outboxkit.kafka import clients

    recorded = ReadSettings(env)
    for key in list(os.environ):
        if key not in ("PATH", "HOME"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(Settings, "load", classmethod(lambda cls, env_file=None: cls(recorded, None)))
    monkeypatch.setattr(clients, "_identity", None)
    monkeypatch.setattr("outboxkit.service.process.Producer", NoKafkaClient)
    monkeypatch.setattr("outboxkit.service.process.ServiceProcess.run", lambda self: None)
    monkeypatch.setattr("outboxkit.service.context.ServiceContext.migrate", lambda self: None)
    start()
    return recorded


def assert_read_settings_are_set(name: str, env: dict[str, str], read: ReadSettings) -> None:
    unset = {key: default for key, default in read.read.items() if key not in env}
    # A setting the pod leaves unset falls back to its default (a missing required one fails the
    # start): none of those defaults may name the machine the pod runs on.
    for key, default in unset.items():
        assert "127.0.0.1" not in str(default) and "localhost" not in str(default), (
            f"{name} reads {key}: its Deployment leaves it to the default {default!r}, an address of "
            "the machine the pod runs on"
        )
        assert str(CHECKOUT) not in str(default), (
            f"{name} reads {key}: its Deployment leaves it to the default {default!r}, a file in the "
            "checkout (read-only to the pod's user in the image)"
        )
    for place in ("DB_HOST", "KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "KAFKA_PASSWORD"):
        assert place in read.read and place in env, f"{name} does not get {place} from its Deployment"


@pytest.mark.parametrize("service", [d.group_id for d in roster_services()])
def test_every_setting_a_service_reads_is_set_in_its_deployment(
    service: str, resources: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from outboxkit.cli.main import run_command  # noqa: F401  (the CLI's modules loaded first)
    from outboxkit.cli.service import service_main

    definition = next(d for d in roster_services() if d.group_id == service)
    deployment = of_kind(resources, "Deployment")[service]
    env = container_env(deployment, of_kind(resources, "ConfigMap"))
    pod = deployment["spec"]["template"]["spec"]
    in_scratch = [k for k, v in env.items() if v.startswith(workloads.SCRATCH + "/")]
    if in_scratch:  # what the pod writes goes to its emptyDir: here, a folder of the test's own
        assert pod["containers"][0]["volumeMounts"] == [{"name": "scratch", "mountPath": workloads.SCRATCH}]
        assert pod["volumes"] == [{"name": "scratch", "emptyDir": {}}]
        env.update({k: env[k].replace(workloads.SCRATCH, str(tmp_path)) for k in in_scratch})
    NoKafkaClient.configs = []
    codes: list[int] = []
    read = started_with(env, monkeypatch, lambda: codes.append(service_main(definition, ["run"])))
    assert codes == [0]
    assert_read_settings_are_set(service, env, read)
    # It logs in as its own principal, with the Secret Strimzi wrote for its KafkaUser.
    config = NoKafkaClient.configs[0]
    assert config["bootstrap.servers"] == TARGET.kafka_bootstrap
    assert (config["sasl.username"], config["sasl.password"]) == (service, f"secret:{service}/password")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", definition.module, "run"]
    assert container["image"] == "registry.example.com/team/outbox-cdc-services:1.2.3"


def test_every_setting_the_order_api_reads_is_set_in_its_deployment(
    resources: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.order_api import app

    deployment = of_kind(resources, "Deployment")["order-api"]
    env = container_env(deployment, of_kind(resources, "ConfigMap"))
    env = {k: v.replace(workloads.SCRATCH, str(tmp_path)) for k, v in env.items()}
    monkeypatch.setattr(app, "create_tables", lambda *_: None)
    read = started_with(env, monkeypatch, app.create_app)
    assert_read_settings_are_set("order-api", env, read)
    assert {"ORDER_DB_PASSWORD", "QUERY_DB_PASSWORD"} <= set(read.read)


def test_the_services_pods_probe_health_drain_and_are_scraped(resources: list[dict[str, Any]]) -> None:
    sizing = load_sizing()
    drain = Settings({}).consumer_drain_timeout_s
    services = of_kind(resources, "Service")
    for definition in roster_services():
        deployment = of_kind(resources, "Deployment")[definition.group_id]
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        port = definition.health_port
        assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": port}
        assert container["livenessProbe"]["tcpSocket"] == {"port": port}
        assert pod["spec"]["terminationGracePeriodSeconds"] > drain
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        assert container["resources"] == size_of(sizing, definition.group_id).resources()
        assert services[definition.group_id]["spec"]["ports"][0]["port"] == port
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_no_password_is_written_into_a_manifest(resources: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(resources)
    assert "kind: Secret" not in text
    for resource in resources:
        if resource["kind"] in ("Deployment", "Job"):
            for variable in resource["spec"]["template"]["spec"]["containers"][0].get("env", []):
                if "PASSWORD" in variable["name"]:
                    assert "secretKeyRef" in variable["valueFrom"], variable


def test_sizing_comes_from_the_bench_reports_highest_rate() -> None:
    report = {
        "title": "bench_saga run x",
        "phases": [
            {"rate": 50, "cpu_share": {"kafka": 20.0}, "rss_mb": {"kafka": {"max": 400.0}}},
            {
                "rate": 100,
                "cpu_share": {"kafka": 41.3, "order-service": 9.0},
                "rss_mb": {"kafka": {"start": 300, "end": 500, "max": 512.4}, "order-service": {"max": 90.0}},
            },
        ],
    }
    sizing = sizing_from_report(report)
    assert sizing["measured"]["rate"] == 100
    assert sizing["processes"]["kafka"]["cpu_millicores"] == size_from(41.3, 512.4).cpu_millicores
    assert size_from(41.3, 512.4) == Size(520, 656)  # +25%, rounded up to 10m and 16Mi
    assert size_from(0.5, 10.0) == Size(50, 64)  # never below the floor
    assert Size(520, 656).resources()["limits"] == {"memory": "1312Mi"}


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("--namespace", "Shop", "namespace 'Shop' is not a Kubernetes name"),
        ("--registry", "https://registry", "image registry 'https://registry' is not a registry host"),
        ("--db-port", "70000", "database port 70000 is not between 1 and 65535"),
        ("--kafka-storage", "20GB", "Kafka storage '20GB' is not a size"),
    ],
)
def test_a_mistake_on_the_command_line_is_one_line_and_writes_nothing(
    tmp_path: Path, argument: str, value: str, message: str
) -> None:
    out = tmp_path / "manifests"
    args = {"--namespace": "shop", "--registry": "r.example.com", "--db-host": "mysql", argument: value}
    result = run_program("stack", "k8s", "render", "--out", str(out), *[x for kv in args.items() for x in kv])
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"[stack] error: {result.stderr.split('error: ')[1].strip()}"
    ]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_render_writes_the_files_and_check_validates_them(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
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
        "mysql.databases.svc",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "00-namespace.yaml",
        "10-kafka.yaml",
        "20-registry.yaml",
        "30-settings.yaml",
        "40-connect.yaml",
        "50-services.yaml",
        "README.md",
    ]
    found = read_manifests(out)
    assert f"{len(found)} resources" in result.stdout
    readme = (out / "README.md").read_text()
    assert "create secret generic outbox-db" in readme and "ORDER_DB_PASSWORD" in readme
    checked = run_program("stack", "k8s", "check", str(out))
    assert checked.returncode == 0, checked.stderr
    assert f"{len(found)} resources" in checked.stdout

    services = out / "50-services.yaml"
    services.write_text(services.read_text().replace("containerPort:", "containerPorts:", 1))
    broken = run_program("stack", "k8s", "check", str(out))
    assert broken.returncode == 1
    assert "Deployment/order-service: spec.template.spec.containers.0.ports.0:" in broken.stderr
    assert "'containerPort' is a required property" in broken.stderr and "1 problem in" in broken.stderr


def test_an_out_that_is_a_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    result = run_program(
        "stack", "k8s", "render", "--out", str(taken), "--namespace", "shop",
        "--registry", "r.example.com", "--db-host", "mysql",
    )  # fmt: skip
    assert result.returncode == 2 and "is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr and taken.read_text() == "mine"


def test_a_target_refuses_what_kubernetes_would() -> None:
    with pytest.raises(TargetError, match="database kind 'postgres'"):
        Target(**{**TARGET.__dict__, "database_kind": "postgres"})
    with pytest.raises(TargetError, match="CDC secret 'CDC_secret'"):
        Target(**{**TARGET.__dict__, "cdc_secret": "CDC_secret"})


def test_the_workloads_read_the_drain_time_the_services_use() -> None:
    assert workloads.drain_grace_s() == int(Settings({}).consumer_drain_timeout_s) + workloads.DRAIN_MARGIN_S


def test_the_docs_show_the_sizing_the_manifests_request() -> None:
    from devstack.kubernetes.sizing import sizing_table

    docs = (Path(__file__).parents[2] / "docs" / "kubernetes.md").read_text()
    shown = docs.split("(python -m devstack.kubernetes.sizing --table) -->\n", 1)[1].split(
        "\n<!-- /sizing -->"
    )[0]
    assert shown == sizing_table(), "docs/kubernetes.md: paste `python -m devstack.kubernetes.sizing --table`"
