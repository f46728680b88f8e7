"""The services' image the Kubernetes manifests run (stack/images/services/Dockerfile, built by
``stack images`` on the debootstrap base), started as a pod starts it: a service against the
compose stack, from the image's own installation and the settings a Deployment gives it."""

from __future__ import annotations

import os
import subprocess

import pytest

from devstack.images import ImageBuilder
from devstack.stack import Stack

pytestmark = [
    pytest.mark.stack,
    pytest.mark.compose,
    pytest.mark.skipif(
        os.environ.get("STACK_BACKEND") != "compose",
        reason="the images are built for the compose stack (STACK_BACKEND=compose)",
    ),
]


def in_image(
    *argv: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    tag = ImageBuilder(Stack().ctx).tags()["services"]
    flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "host", *flags, tag, *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_the_image_has_the_tools_and_the_services(stack) -> None:
    version = in_image("outboxkit", "--version")
    assert version.returncode == 0 and version.stdout.startswith("outboxkit "), version.stderr
    helped = in_image("python", "-m", "services.inventory.main", "--help")
    assert helped.returncode == 0 and "run" in helped.stdout, helped.stderr
    api = in_image("order-api", "--help")
    assert api.returncode == 0 and "--port" in api.stdout, api.stderr


def test_a_service_in_the_image_migrates_against_the_stack(stack, settings) -> None:
    """What a pod's process does first: read its settings from the environment (no env file), reach
    the database and the registry, create its tables and register its schemas."""
    env = {
        "DB_HOST": settings.db_host,
        "DB_PORT": str(settings.db_port),
        "SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "INVENTORY_DB_PASSWORD": settings.db_password("inventory"),
    }
    migrated = in_image("python", "-m", "services.inventory.main", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "tables ready" in migrated.stdout + migrated.stderr
