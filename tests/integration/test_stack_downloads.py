"""A download that fails names what it could not fetch (real Maven against Maven Central)."""

from __future__ import annotations

import pytest

from devstack.config import StatePaths
from devstack.downloads import Maven
from devstack.errors import StackError
from devstack.versions import load_versions

pytestmark = pytest.mark.maven

MISSING = "io.debezium:debezium-connector-does-not-exist:0.0.1.Final:tar.gz:plugin"


def test_an_artifact_maven_cannot_fetch_is_named_with_the_log_to_read(tmp_path):
    maven = Maven(StatePaths(tmp_path), load_versions())
    with pytest.raises(StackError) as failure:
        maven.copy_artifact(MISSING, tmp_path / "out")
    message = str(failure.value)
    assert f"Maven could not fetch {MISSING}" in message
    assert "debezium-connector-does-not-exist" in message.split("\n", 1)[1]  # Maven's own [ERROR] line
    assert str(tmp_path / "downloads" / "maven.log") in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
