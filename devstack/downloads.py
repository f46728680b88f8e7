"""Fetch the stack's Java parts from Maven Central with Maven, once.

Each part lands in a folder whose name carries its version, with a ``.complete`` marker
written last. When every marker is present Maven is not even started, so a second ``up``
downloads nothing and costs no JVM start; a changed version in versions.env is a new folder.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from devstack.config import MAVEN_POM, StatePaths
from devstack.console import say
from devstack.errors import StackError
from devstack.versions import Versions

MARKER = ".complete"


@dataclass(frozen=True)
class Installed:
    kafka_libs: Path  # every jar of the Kafka broker and Connect worker classpath
    plugins: Path  # Connect plugin.path with the Debezium connectors unpacked
    registry_home: Path  # unpacked Apicurio Registry (quarkus-run.jar)
    jmx_agent: Path  # the Prometheus JMX exporter's Java agent jar (Connect's metrics)


def _is_complete(folder: Path, key: str) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().strip() == key


def _mark_complete(folder: Path, key: str) -> None:
    (folder / MARKER).write_text(key + "\n")


class Maven:
    """Runs Maven with its output in downloads/maven.log; failures name the artifact."""

    def __init__(self, paths: StatePaths, versions: Versions) -> None:
        self.paths = paths
        self.versions = versions
        self.log = paths.downloads / "maven.log"
        self._mvn: str | None = None

    @property
    def mvn(self) -> str:
        if self._mvn is None:
            found = shutil.which("mvn")
            if found is None:
                raise StackError(
                    "Maven (`mvn`) is not on PATH; it fetches the stack's jars from Maven "
                    "Central (on Debian: apt-get install -y maven)"
                )
            self._mvn = found
        return self._mvn

    @property
    def plugin(self) -> str:
        # Fully qualified so the plugin version is the pinned one, not Maven's default.
        version = self.versions.maven_dependency_plugin
        return f"org.apache.maven.plugins:maven-dependency-plugin:{version}"

    def run(self, args: list[str], what: str) -> None:
        # -U: Maven remembers a failed download and would not retry it for a day; it runs
        # only when something is missing, so always retrying is what we want.
        self.log.parent.mkdir(parents=True, exist_ok=True)
        start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as handle:
            handle.write(f"\n===== mvn {' '.join(args)}\n".encode())
            handle.flush()
            result = subprocess.run(
                [self.mvn, "-B", "-U", "-Dstyle.color=never", *args],
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            with self.log.open("rb") as handle:
                handle.seek(start)
                output = handle.read().decode("utf-8", errors="replace")
            lines = output.splitlines()
            # Maven's [ERROR] lines name the missing artifact; the rest is mostly banner.
            failures = [ln for ln in lines if ln.startswith("[ERROR]") and ln[8:].strip()]
            errors = "\n".join(failures[:3] or lines[-30:])
            raise StackError(
                f"Maven could not fetch {what} (exit {result.returncode}); "
                f"full output in {self.log}:\n{errors}"
            )

    def copy_dependencies(self, output: Path) -> None:
        v = self.versions
        self.run(
            [
                "-f",
                str(MAVEN_POM),
                f"-Dkafka.version={v.kafka}",
                f"-Dscala.version={v.scala}",
                f"-Dlog4j.version={v.log4j}",
                f"-Dslf4j.version={v.slf4j}",
                f"{self.plugin}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={output}",
            ],
            f"the Kafka {v.kafka} classpath (kafka_{v.scala}, connect-runtime, ...)",
        )

    def copy_artifact(self, coordinates: str, output: Path) -> Path:
        """Copy one artifact (G:A:V:type:classifier) into ``output``; returns the file."""
        self.run(
            [f"{self.plugin}:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={output}"],
            coordinates,
        )
        files = [p for p in output.iterdir() if p.is_file()]
        if len(files) != 1:
            raise StackError(f"expected one file for {coordinates} in {output}, found {files}")
        return files[0]


def _extract(archive: Path, destination: Path) -> None:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            # Refuses absolute paths and links leaving the destination.
            tar.extractall(destination, filter="data")
        else:  # pragma: no cover - Python without the 3.11.4 tarfile filters
            tar.extractall(destination)


def _fresh_tmp(final: Path) -> Path:
    # Work in a sibling folder and rename at the end: an interrupted download never leaves
    # a half-filled folder that looks finished.
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def ensure_kafka_libs(paths: StatePaths, maven: Maven) -> Path:
    v = maven.versions
    key = f"kafka_{v.scala}-{v.kafka} log4j-{v.log4j} slf4j-{v.slf4j}"
    final = paths.downloads / f"kafka-{v.kafka}-scala{v.scala}-libs"
    if _is_complete(final, key):
        return final
    say(f"fetching Kafka {v.kafka} and Connect jars with Maven (first run only)...")
    tmp = _fresh_tmp(final)
    maven.copy_dependencies(tmp)
    jars = list(tmp.glob("*.jar"))
    say(f"  {len(jars)} jars fetched")
    _mark_complete(tmp, key)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def ensure_debezium_plugins(paths: StatePaths, maven: Maven) -> Path:
    version = maven.versions.debezium
    connectors = ("debezium-connector-mariadb", "debezium-connector-mysql")
    key = f"debezium-{version} " + " ".join(connectors)
    plugins = paths.plugins
    if _is_complete(plugins, key):
        return plugins
    shutil.rmtree(plugins, ignore_errors=True)
    plugins.mkdir(parents=True)
    for connector in connectors:
        say(f"fetching Debezium {version} plugin {connector} with Maven (first run only)...")
        tmp = _fresh_tmp(paths.downloads / f"{connector}-{version}")
        archive = maven.copy_artifact(f"io.debezium:{connector}:{version}:tar.gz:plugin", tmp)
        # The archive holds one top-level folder per connector: that is the plugin layout
        # Connect's plugin.path expects.
        _extract(archive, plugins)
        shutil.rmtree(tmp, ignore_errors=True)
    _mark_complete(plugins, key)
    return plugins


def ensure_registry(paths: StatePaths, maven: Maven) -> Path:
    version = maven.versions.apicurio
    final = paths.downloads / f"apicurio-registry-{version}"
    key = f"apicurio-registry-app-{version}"
    if _is_complete(final, key):
        return final
    say(f"fetching Apicurio Registry {version} with Maven (first run only, ~160 MB)...")
    tmp = _fresh_tmp(final)
    archive = maven.copy_artifact(f"io.apicurio:apicurio-registry-app:{version}:tar.gz:all", tmp)
    say(f"  unpacking {archive.name}")
    _extract(archive, tmp)
    archive.unlink()
    if not (tmp / "quarkus-run.jar").is_file():
        raise StackError(f"{archive.name} has no quarkus-run.jar at its top level")
    _mark_complete(tmp, key)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def ensure_jmx_agent(paths: StatePaths, maven: Maven) -> Path:
    version = maven.versions.jmx_exporter
    final = paths.downloads / f"jmx-exporter-{version}"
    key = f"jmx_prometheus_javaagent-{version}"
    if _is_complete(final, key):
        return final / f"{key}.jar"
    say(f"fetching the Prometheus JMX exporter {version} with Maven (first run only)...")
    tmp = _fresh_tmp(final)
    jar = maven.copy_artifact(f"io.prometheus.jmx:jmx_prometheus_javaagent:{version}", tmp)
    jar.rename(tmp / f"{key}.jar")
    _mark_complete(tmp, key)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final / f"{key}.jar"


def ensure_downloads(paths: StatePaths, versions: Versions) -> Installed:
    """Everything the JVM components need, fetched if missing; Maven runs only then."""
    maven = Maven(paths, versions)
    return Installed(
        kafka_libs=ensure_kafka_libs(paths, maven),
        plugins=ensure_debezium_plugins(paths, maven),
        registry_home=ensure_registry(paths, maven),
        jmx_agent=ensure_jmx_agent(paths, maven),
    )
