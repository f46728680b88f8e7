"""What the Java parts share: a Java command line and a log4j2 config for Kafka's jars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.components.base import Component
from devstack.context import StackContext
from devstack.java import system_java

# One readable line per event, written to stdout: the process's stdout is the component's
# log file, so JVM crash messages and log lines end up in the same place.
_LOG4J2_TEMPLATE = """\
# Written by devstack; regenerated on every start.
status = warn
name = devstack-{name}
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss,SSS}} %-5p [%t] %c{{1}}: %m%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
"""


def write_log4j2_config(path: Path, name: str, levels: Mapping[str, str]) -> Path:
    """A log4j2 properties file; ``levels`` maps logger names to levels (quieter noise)."""
    body = _LOG4J2_TEMPLATE.format(name=name)
    for index, (logger, level) in enumerate(levels.items()):
        body += f"logger.l{index}.name = {logger}\nlogger.l{index}.level = {level}\n"
    path.write_text(body)
    return path


def write_properties(path: Path, values: Mapping[str, str | int], header: str) -> Path:
    lines = [f"# {header}", "# Written by devstack; regenerated on every start."]
    lines += [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def java_command(
    java: str,
    heap: str,
    system_properties: Mapping[str, str | int],
    launch: Sequence[str],
) -> list[str]:
    """``java`` with a fixed heap, -D properties, then ``launch`` (-cp ... Main args / -jar)."""
    argv = [java, f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
    argv += [f"-D{key}={value}" for key, value in system_properties.items()]
    return argv + list(launch)


class KafkaJvmComponent(Component):
    """A part that runs a main class from the Kafka classpath (the broker, the Connect worker)."""

    heap = "512m"
    #: Logger levels on top of INFO, to keep the log readable.
    log_levels: Mapping[str, str] = {}

    def __init__(self, ctx: StackContext, name: str) -> None:
        super().__init__(ctx.paths, name)
        self.ctx = ctx

    @property
    def log4j2_file(self) -> Path:
        return self.home / "log4j2.properties"

    def classpath(self) -> str:
        # A classpath wildcard: every jar Maven resolved, in one argument.
        return f"{self.ctx.installed.kafka_libs}/*"

    def jvm_options(self) -> list[str]:
        """Options before the classpath (a Java agent, say)."""
        return []

    def system_properties(self) -> dict[str, str | int]:
        """-D properties beyond the log4j2 config file's."""
        return {}

    def kafka_java(self, main_class: str, *args: str) -> list[str]:
        write_log4j2_config(self.log4j2_file, self.name, self.log_levels)
        java, _ = system_java()
        return java_command(
            java,
            self.heap,
            {"log4j2.configurationFile": str(self.log4j2_file), **self.system_properties()},
            [*self.jvm_options(), "-cp", self.classpath(), main_class, *args],
        )
