"""What a rendering is for: the namespace, the image registry, the team's MySQL and the names
the manifests give the parts Strimzi runs. Checked here, so a mistake on the command line is one
line naming it, and nothing is written."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Kubernetes' DNS-1123 label (a namespace, a Service) and subdomain (most other names).
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
# host[:port]/path, as an image reference's registry and repository prefix.
_REGISTRY = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-a-z0-9._/]*[a-z0-9])?)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?")

DATABASE_KINDS = ("mysql", "mariadb")


class TargetError(ValueError):
    """What was asked for cannot be rendered: a name, an address or a size is malformed."""


def require_label(what: str, value: str) -> str:
    if not _LABEL.fullmatch(value):
        raise TargetError(
            f"{what} {value!r} is not a Kubernetes name (lower-case letters, digits and '-', at most "
            "63, starting and ending with a letter or digit)"
        )
    return value


def require_name(what: str, value: str) -> str:
    if not _SUBDOMAIN.fullmatch(value):
        raise TargetError(
            f"{what} {value!r} is not a Kubernetes resource name (lower-case letters, digits, '-' and '.')"
        )
    return value


@dataclass(frozen=True)
class Target:
    """Where the manifests go and what they reach; every name a default a team may change."""

    namespace: str
    registry: str  # where the services' image is pushed: <registry>/outbox-cdc-services:<tag>
    image_tag: str
    db_host: str  # the team's MySQL, as pods reach it
    db_port: int = 3306
    database_kind: str = "mysql"  # picks Debezium's connector class, like register-connectors
    cdc_secret: str = "outbox-cdc-db"  # the CDC user's password, key "password"
    db_secret: str = "outbox-db"  # each service's database password, key <SERVICE>_DB_PASSWORD
    kafka_cluster: str = "outbox"
    connect_cluster: str = "outbox-connect"
    kafka_storage: str = "20Gi"
    connector_layout: str | None = None  # CDC_CONNECTORS: per-server (the default) or per-service

    def __post_init__(self) -> None:
        require_label("namespace", self.namespace)
        if not _REGISTRY.fullmatch(self.registry):
            raise TargetError(
                f"image registry {self.registry!r} is not a registry host (and path), e.g. "
                "registry.example.com/team"
            )
        if not _TAG.fullmatch(self.image_tag):
            raise TargetError(f"image tag {self.image_tag!r} is not a tag (letters, digits, '_', '.', '-')")
        if not _HOST.fullmatch(self.db_host):
            raise TargetError(f"database host {self.db_host!r} is not a host name or address")
        if not 1 <= self.db_port <= 65535:
            raise TargetError(f"database port {self.db_port} is not between 1 and 65535")
        if self.database_kind not in DATABASE_KINDS:
            raise TargetError(
                f"database kind {self.database_kind!r} is not one of {', '.join(DATABASE_KINDS)}"
            )
        for what, value in (("CDC secret", self.cdc_secret), ("database secret", self.db_secret)):
            require_name(what, value)
        require_label("Kafka cluster name", self.kafka_cluster)
        require_label("Connect cluster name", self.connect_cluster)
        if not re.fullmatch(r"[1-9][0-9]*(Mi|Gi|Ti)", self.kafka_storage):
            raise TargetError(f"Kafka storage {self.kafka_storage!r} is not a size such as 20Gi")

    @property
    def services_image(self) -> str:
        return f"{self.registry}/outbox-cdc-services:{self.image_tag}"

    @property
    def connect_image(self) -> str:
        """Where Strimzi pushes the Connect image it builds with the Debezium plugins."""
        return f"{self.registry}/outbox-cdc-connect:{self.image_tag}"

    @property
    def kafka_bootstrap(self) -> str:
        """The bootstrap Service Strimzi makes for the SCRAM listener."""
        return f"{self.kafka_cluster}-kafka-bootstrap:{KAFKA_LISTENER_PORT}"

    @property
    def connect_url(self) -> str:
        """The REST API Service Strimzi makes for the Connect cluster."""
        return f"http://{self.connect_cluster}-connect-api:{CONNECT_REST_PORT}"

    @property
    def is_mariadb(self) -> bool:
        return self.database_kind == "mariadb"


KAFKA_LISTENER_PORT = 9092
CONNECT_REST_PORT = 8083
