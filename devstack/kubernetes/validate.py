"""Every rendered resource against its schema, offline: what stands in for ``kubectl apply
--dry-run=server --validate=strict`` where no cluster is reachable.

- Strimzi's kinds against the ``openAPIV3Schema`` of their CRDs (``stack/k8s/strimzi-crds``,
  copied from Strimzi's repository), strictly: a field the schema does not name is an error, as
  the API server's strict field validation makes it (it would otherwise drop it without a word);
- the core kinds (Deployment, Service, ConfigMap, Job, Namespace) against Kubernetes' own schemas,
  bundled by ``kubernetes-validate``, also strictly.

What neither checks: the CRDs' CEL rules (``x-kubernetes-validations``) and what only the
operator or the API server decides (a Secret that exists, an image that can be pulled).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from devstack.config import STACK_DIR

CRD_DIR = STACK_DIR / "k8s" / "strimzi-crds"
STRIMZI_API = "kafka.strimzi.io/v1"
# The Kubernetes release whose schemas the core kinds are checked against.
KUBERNETES_VERSION = "1.33.0"


@dataclass(frozen=True)
class Problem:
    resource: str  # Kind/name
    where: str  # the field's path
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.where or '(top)'}: {self.message}"


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every object that names its fields closed to others (unless it keeps
    unknown fields on purpose, as a connector's free-form ``config`` does)."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            # Only an object's own schema: oneOf/anyOf branches name a subset of its fields.
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for item in node:
                close(item)

    close(schema)
    return schema


@cache
def strimzi_schemas(crd_dir: Path = CRD_DIR) -> dict[str, dict[str, Any]]:
    """Kind -> the strict schema of its served ``v1`` version."""
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schema = version["schema"]["openAPIV3Schema"]
        # metadata is Kubernetes' ObjectMeta, checked by name only here.
        schema = {**schema, "properties": {**schema["properties"], "metadata": {"type": "object"}}}
        schemas[crd["spec"]["names"]["kind"]] = strict(schema)
    if not schemas:
        raise FileNotFoundError(f"no Strimzi CRDs in {crd_dir}")
    return schemas


def name_of(resource: dict[str, Any]) -> str:
    return f"{resource.get('kind', '?')}/{resource.get('metadata', {}).get('name', '?')}"


def validate_resource(resource: dict[str, Any]) -> list[Problem]:
    who = name_of(resource)
    if not isinstance(resource.get("metadata", {}).get("name"), str):
        return [Problem(who, "metadata.name", "every resource needs a name")]
    if resource.get("apiVersion") == STRIMZI_API:
        schema = strimzi_schemas().get(resource.get("kind", ""))
        if schema is None:
            return [Problem(who, "kind", f"no Strimzi CRD for kind {resource.get('kind')!r}")]
        validator = jsonschema.Draft7Validator(schema)
        return [
            Problem(who, ".".join(str(p) for p in error.absolute_path), error.message)
            for error in sorted(
                validator.iter_errors(resource), key=lambda e: list(map(str, e.absolute_path))
            )
        ]
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [Problem(who, ".".join(str(p) for p in error.path), error.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return [
            Problem(who, "apiVersion", f"no schema for {resource.get('apiVersion')} {resource.get('kind')}")
        ]
    return []


def validate_all(resources: Iterable[dict[str, Any]]) -> list[Problem]:
    problems = []
    seen: set[tuple[str, str, str]] = set()
    for resource in resources:
        problems += validate_resource(resource)
        identity = (
            str(resource.get("kind")),
            str(resource.get("metadata", {}).get("namespace", "")),
            str(resource.get("metadata", {}).get("name")),
        )
        if identity in seen:
            problems.append(Problem(name_of(resource), "metadata.name", "defined twice"))
        seen.add(identity)
    return problems
