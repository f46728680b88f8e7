"""The plain Kubernetes resources: the schema registry, each service of the roster, the order API
and the Job that provisions the team's MySQL; their settings in one ConfigMap, their passwords
from Secrets (the Kafka ones from those Strimzi's user operator writes for each KafkaUser).

Each service's Deployment runs what ``serve`` runs (``python -m <module> run``), probes the
``/health`` it serves, is scraped on the same port's ``/metrics``, and has the drain's time to stop.
"""

from __future__ import annotations

from typing import Any

from devstack.kubernetes.sizing import Size, size_of
from devstack.kubernetes.strimzi import KAFKA_SECURITY, prometheus_annotations, secret_env
from devstack.kubernetes.target import Target, require_label
from devstack.versions import Versions
from outboxkit import Settings
from outboxkit.ops import ADMIN_PRINCIPAL, db_password_key, password_key, roster_services

SETTINGS_CONFIG_MAP = "outbox-settings"
REGISTRY = "schema-registry"
REGISTRY_PORT = 8080  # Apicurio's own default in its image
REGISTRY_MANAGEMENT_PORT = 9000
REGISTRY_DATABASE = "registry"
ORDER_API = "order-api"
ORDER_API_PORT = 8000
PROVISION_JOB = "outbox-provision"
PREFLIGHT_JOB = "outbox-preflight"
# The roster module the services' image is built with (services/__init__.py).
ROSTER_MODULE = "services"
# Time to stop beyond the drain itself: the last commit, the health endpoint, the process exit.
DRAIN_MARGIN_S = 15
# A pod's own writable folder (the image is read-only to its user), an emptyDir: what a service
# keeps there lives as long as the pod.
SCRATCH = "/var/lib/outbox-cdc"
# Settings that name a file a process writes, whose default is inside the checkout: a file in the
# pod's folder (the payment service's simulated gateway remembers its charges in SQLite).
SCRATCH_FILES = {"PAYMENT_GATEWAY_LEDGER": "payment-gateway.sqlite"}


def labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "outbox-cdc"}


def shared_settings(target: Target) -> dict[str, str]:
    """What every service, the API and the provisioning Job read: where the parts are."""
    settings = {
        "DB_HOST": target.db_host,
        "DB_PORT": str(target.db_port),
        "KAFKA_BOOTSTRAP_SERVERS": target.kafka_bootstrap,
        **KAFKA_SECURITY,
        "SCHEMA_REGISTRY_URL": f"http://{REGISTRY}:{REGISTRY_PORT}/apis/ccompat/v7",
        "CONNECT_URL": target.connect_url,
        "OUTBOXKIT_ROSTER": ROSTER_MODULE,
        "LOG_FORMAT": "json",
        **{setting: f"{SCRATCH}/{file}" for setting, file in SCRATCH_FILES.items()},
    }
    if target.connector_layout:
        settings["CDC_CONNECTORS"] = target.connector_layout
    return settings


def settings_config_map(target: Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": SETTINGS_CONFIG_MAP,
            "namespace": target.namespace,
            "labels": labels("outbox-cdc"),
        },
        "data": shared_settings(target),
    }


def kafka_login(principal: str) -> list[dict[str, Any]]:
    """The principal's name and the password Strimzi keeps in the Secret of its KafkaUser."""
    password = secret_env("KAFKA_PASSWORD", principal, "password")
    env = [{"name": "KAFKA_USERNAME", "value": principal}, password]
    if password_key(principal) != "KAFKA_PASSWORD":
        # What a service logs in with (outboxkit: <GROUP>_KAFKA_PASSWORD), the same secret.
        env.append(secret_env(password_key(principal), principal, "password"))
    return env


def database_passwords(target: Target, databases: list[str]) -> list[dict[str, Any]]:
    return [secret_env(db_password_key(d), target.db_secret, db_password_key(d)) for d in databases]


def container(
    name: str, image: str, command: list[str], env: list[dict[str, Any]], port: int, size: Size
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": command,
        "envFrom": [{"configMapRef": {"name": SETTINGS_CONFIG_MAP}}],
        "env": env,
        "ports": [{"name": "http", "containerPort": port}],
        "resources": size.resources(),
    }


def deployment(
    target: Target,
    app: str,
    main: dict[str, Any],
    port: int,
    replicas: int = 1,
    grace_s: int | None = None,
    liveness: dict[str, Any] | None = None,
    readiness: dict[str, Any] | None = None,
    scratch: bool = False,
) -> dict[str, Any]:
    main = {
        **main,
        "livenessProbe": liveness
        or {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 6},
        "readinessProbe": readiness
        or {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 5, "failureThreshold": 3},
    }
    pod: dict[str, Any] = {"containers": [main]}
    if scratch:
        main["volumeMounts"] = [{"name": "scratch", "mountPath": SCRATCH}]
        pod["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    if grace_s is not None:
        pod["terminationGracePeriodSeconds"] = grace_s
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": target.namespace, "labels": labels(app)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(app)},
            # One pod at a time: the one stopping drains (its partitions go to the others) before
            # the next is stopped.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(app), "annotations": prometheus_annotations(port)},
                "spec": pod,
            },
        },
    }


def service(target: Target, app: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": target.namespace, "labels": labels(app)},
        "spec": {"selector": labels(app), "ports": [{"name": "http", "port": port, "targetPort": port}]},
    }


def drain_grace_s() -> int:
    """The drain's own limit (CONSUMER_DRAIN_TIMEOUT_S, as the services read it) and a margin."""
    return int(Settings({}).consumer_drain_timeout_s) + DRAIN_MARGIN_S


def roster_workloads(target: Target, sizing: dict[str, Size]) -> list[dict[str, Any]]:
    resources = []
    for definition in roster_services():
        app = require_label("service name", definition.group_id)
        if not definition.health_port:
            raise ValueError(f"{definition.name}: a pod needs a fixed health port (health_port=)")
        env = [
            {"name": "HEALTH_PORT", "value": str(definition.health_port)},
            *kafka_login(definition.group_id),
            *database_passwords(target, [definition.database or definition.name]),
        ]
        main = container(
            app,
            target.services_image,
            ["python", "-m", definition.module, "run"],
            env,
            definition.health_port,
            size_of(sizing, app),
        )
        resources.append(
            deployment(target, app, main, definition.health_port, grace_s=drain_grace_s(), scratch=True)
        )
        resources.append(service(target, app, definition.health_port))
    return resources


def every_database() -> list[str]:
    return [d.database or d.name for d in roster_services()]


def order_api(target: Target, sizing: dict[str, Size]) -> list[dict[str, Any]]:
    """The API reads the read model, places orders in order_db, and operates every group's dead
    letters from its page (as admin: the operator's identity)."""
    env = [*kafka_login(ADMIN_PRINCIPAL), *database_passwords(target, every_database())]
    main = container(
        ORDER_API,
        target.services_image,
        ["order-api", "--host", "0.0.0.0", "--port", str(ORDER_API_PORT)],
        env,
        ORDER_API_PORT,
        size_of(sizing, ORDER_API),
    )
    return [
        deployment(target, ORDER_API, main, ORDER_API_PORT, replicas=2, scratch=True),
        service(target, ORDER_API, ORDER_API_PORT),
    ]


def schema_registry(target: Target, versions: Versions, sizing: dict[str, Size]) -> list[dict[str, Any]]:
    """Apicurio with its schemas in the team's MySQL (database ``registry``): schema ids survive a
    restart, as on the native stack (where it is H2 on disk)."""
    env = [
        {"name": "APICURIO_STORAGE_KIND", "value": "sql"},
        {"name": "APICURIO_STORAGE_SQL_KIND", "value": "mysql"},
        {
            "name": "APICURIO_DATASOURCE_URL",
            "value": f"jdbc:mysql://{target.db_host}:{target.db_port}/{REGISTRY_DATABASE}",
        },
        {"name": "APICURIO_DATASOURCE_USERNAME", "value": f"{REGISTRY_DATABASE}_svc"},
        secret_env("APICURIO_DATASOURCE_PASSWORD", target.db_secret, db_password_key(REGISTRY_DATABASE)),
    ]
    main = {
        "name": REGISTRY,
        "image": f"apicurio/apicurio-registry:{versions.apicurio}",
        "env": env,
        "ports": [
            {"name": "http", "containerPort": REGISTRY_PORT},
            {"name": "management", "containerPort": REGISTRY_MANAGEMENT_PORT},
        ],
        "resources": size_of(sizing, "registry").resources(),
    }
    probe = {"port": REGISTRY_MANAGEMENT_PORT}
    workload = deployment(
        target,
        REGISTRY,
        main,
        REGISTRY_PORT,
        liveness={"httpGet": {"path": "/q/health/live", **probe}, "periodSeconds": 10, "failureThreshold": 6},
        readiness={"httpGet": {"path": "/q/health/ready", **probe}, "periodSeconds": 5},
    )
    workload["spec"]["template"]["metadata"]["annotations"] = prometheus_annotations(
        REGISTRY_MANAGEMENT_PORT, "/q/metrics"
    )
    return [workload, service(target, REGISTRY, REGISTRY_PORT)]


def job(target: Target, name: str, command: list[str], env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": target.namespace, "labels": labels(name)},
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": name,
                            "image": target.services_image,
                            "command": command,
                            "envFrom": [{"configMapRef": {"name": SETTINGS_CONFIG_MAP}}],
                            "env": env,
                            "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}],
                        }
                    ],
                    "volumes": [{"name": "scratch", "emptyDir": {}}],
                },
            },
        },
    }


def provision_job(target: Target) -> dict[str, Any]:
    """``outboxkit provision-databases`` as the server's root: every service's database, user and
    tables, the CDC user's grants and the schemas registered. Run once, and again when a service
    joins the roster; a managed database without root does the same by hand (docs)."""
    env = [
        secret_env("DB_ROOT_PASSWORD", target.db_secret, "DB_ROOT_PASSWORD"),
        secret_env("CDC_DB_PASSWORD", target.cdc_secret, "password"),
        *kafka_login(ADMIN_PRINCIPAL),
        *database_passwords(target, every_database()),
    ]
    return job(target, PROVISION_JOB, ["outboxkit", "provision-databases"], env)


def preflight_job(target: Target) -> dict[str, Any]:
    """The checks ``register-connectors`` makes before it registers, where Strimzi registers: the
    server can feed Debezium (binlog, GTIDs, retention, grants, outbox tables) and the cluster has
    the replication, topics and ACLs the outbox needs. Its log names whatever is missing."""
    env = [secret_env("CDC_DB_PASSWORD", target.cdc_secret, "password"), *kafka_login(ADMIN_PRINCIPAL)]
    checks = "outboxkit register-connectors --check-database && outboxkit register-connectors --check-kafka"
    return job(target, PREFLIGHT_JOB, ["sh", "-c", checks], env)
