"""``stack k8s render``: every resource, grouped in the files applied one after the other, and a
README in the output folder naming the Secrets to create first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.config import STACK_DIR
from devstack.kubernetes import strimzi, workloads
from devstack.kubernetes.sizing import Size, load_sizing, size_of
from devstack.kubernetes.target import Target
from devstack.versions import Versions, load_versions
from outboxkit.ops import CONNECT_PRINCIPAL, db_password_key, kafka_principals

PLUGIN_CHECKSUMS = STACK_DIR / "k8s" / "debezium-plugins.sha512"


class ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (a metrics rules file in a ConfigMap) as literal blocks a person reads."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


ManifestDumper.add_representer(str, _text)


@dataclass(frozen=True)
class ManifestFile:
    name: str
    what: str
    resources: list[dict[str, Any]]

    def text(self) -> str:
        header = f"# {self.what}\n# Written by `stack k8s render`: change the sources, not this file.\n"
        return header + str(yaml.dump_all(self.resources, Dumper=ManifestDumper, sort_keys=False, width=100))


def plugin_checksums(versions: Versions, path: Path = PLUGIN_CHECKSUMS) -> dict[str, str]:
    """The pinned SHA-512 of each Debezium plugin archive (Strimzi checks it before the build)."""
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, file_name = line.split()
            sums[file_name] = digest
    checksums = {}
    for plugin in strimzi.DEBEZIUM_PLUGINS:
        archive = f"{plugin}-{versions.debezium}-plugin.tar.gz"
        if archive not in sums:
            raise ValueError(f"{path} has no checksum for {archive} (DEBEZIUM_VERSION changed?)")
        checksums[plugin] = sums[archive]
    return checksums


def namespace(target: Target) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target.namespace}}


def with_resources(resource: dict[str, Any], size: Size) -> dict[str, Any]:
    resource["spec"]["resources"] = size.resources()
    return resource


def render(target: Target, sizing: dict[str, Size] | None = None) -> list[ManifestFile]:
    versions = load_versions()
    sizing = sizing if sizing is not None else load_sizing()
    return [
        ManifestFile("00-namespace.yaml", "the namespace", [namespace(target)]),
        ManifestFile(
            "10-kafka.yaml",
            "Kafka: three KRaft nodes, SCRAM, ACLs; the topics and users of the roster",
            [
                with_resources(strimzi.node_pool(target), size_of(sizing, "kafka")),
                strimzi.kafka(target, versions),
                *strimzi.kafka_users(target),
                *strimzi.kafka_topics(target),
            ],
        ),
        ManifestFile(
            "20-registry.yaml", "the schema registry", workloads.schema_registry(target, versions, sizing)
        ),
        ManifestFile(
            "30-settings.yaml",
            "the settings every service reads; the Jobs that provision the databases and check them",
            [
                workloads.settings_config_map(target),
                workloads.provision_job(target),
                workloads.preflight_job(target),
            ],
        ),
        ManifestFile(
            "40-connect.yaml",
            "Kafka Connect with Debezium (built by Strimzi from Maven Central) and the outbox connectors",
            [
                strimzi.connect_metrics_config_map(target),
                with_resources(
                    strimzi.kafka_connect(target, versions, plugin_checksums(versions)),
                    size_of(sizing, "connect"),
                ),
                *strimzi.kafka_connectors(target),
            ],
        ),
        ManifestFile(
            "50-services.yaml",
            "the services of the roster and the order API",
            [*workloads.roster_workloads(target, sizing), *workloads.order_api(target, sizing)],
        ),
    ]


def every_resource(files: list[ManifestFile]) -> list[dict[str, Any]]:
    return [resource for file in files for resource in file.resources]


def readme(target: Target, files: list[ManifestFile]) -> str:
    passwords = [
        *(db_password_key(d) for d in workloads.every_database()),
        db_password_key(workloads.REGISTRY_DATABASE),
        "DB_ROOT_PASSWORD",
    ]
    literal = " \\\n    ".join(f"--from-literal={key}=..." for key in passwords)
    users = ", ".join(kafka_principals())
    applied = "\n".join(f"kubectl apply -f {file.name}   # {file.what}" for file in files[1:])
    return f"""# Manifests for namespace {target.namespace}

Rendered by `stack k8s render`; `stack k8s check <this folder>` validates them offline.
The Strimzi cluster operator must be installed and watch this namespace; the team's MySQL at
{target.db_host}:{target.db_port} must have the binlog settings Debezium needs (docs/kubernetes.md).

Apply `00-namespace.yaml`, then create the Secrets (nothing here holds a password):

```
kubectl apply -f 00-namespace.yaml
kubectl -n {target.namespace} create secret generic {target.cdc_secret} --from-literal=password=...
kubectl -n {target.namespace} create secret generic {target.db_secret} \\
    {literal}
```

Strimzi writes one Secret per KafkaUser ({users}), key `password`; the pods read them.
Connect logs in as `{CONNECT_PRINCIPAL}`.

Then the rest, in this order (each waits for the one before to be Ready: `kubectl wait`,
docs/kubernetes.md):

```
{applied}
```

Images: {target.services_image} (the services, built from stack/images/services/Dockerfile) and
{target.connect_image} (Connect with Debezium, built and pushed by Strimzi itself).
"""


def write(files: list[ManifestFile], target: Target, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file in files:
        path = out / file.name
        path.write_text(file.text())
        written.append(path)
    (out / "README.md").write_text(readme(target, files))
    return [*written, out / "README.md"]


def read_manifests(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every resource of every YAML file in ``folder``, with the file it came from."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append((path, document))
    return found
