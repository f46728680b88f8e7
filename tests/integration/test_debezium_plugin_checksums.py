"""The SHA-512s the Kubernetes manifests pin for Strimzi's Connect build
(stack/k8s/debezium-plugins.sha512) are those of the archives Maven fetched for the native stack:
the same artifacts, byte for byte, on both."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from devstack.kubernetes import strimzi
from devstack.kubernetes.render import plugin_checksums
from devstack.versions import load_versions

pytestmark = pytest.mark.stack


def test_the_pinned_checksums_are_the_fetched_archives(stack) -> None:
    versions = load_versions()
    pinned = plugin_checksums(versions)
    for plugin in strimzi.DEBEZIUM_PLUGINS:
        archive = (
            Path.home()
            / ".m2"
            / "repository"
            / "io"
            / "debezium"
            / plugin
            / versions.debezium
            / f"{plugin}-{versions.debezium}-plugin.tar.gz"
        )
        assert archive.is_file(), f"{archive}: the stack's Maven run fetches it (stack up)"
        assert hashlib.sha512(archive.read_bytes()).hexdigest() == pinned[plugin], plugin
        assert strimzi.plugin_url(plugin, versions.debezium).endswith(
            f"/io/debezium/{plugin}/{versions.debezium}/{archive.name}"
        )
