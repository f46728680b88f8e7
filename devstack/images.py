"""Container images built from the same pinned artifacts as the native stack.

For machines that cannot pull the public images: a Debian base made with ``debootstrap`` from
the mirror apt already uses, then one image per part of the stack (``stack/images/<part>``),
fed with exactly what the native stack runs: the Kafka and Connect jars and the Debezium
plugins Maven resolved, Apicurio and its Java 21 runtime; and MySQL from Debian's unstable suite
(on a base of that suite), so the compose stack runs Debezium's MySQL connector while the native
stack runs its MariaDB one. ``compose.local.yaml`` swaps the public images for these tags.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.components.connect import Connect
from devstack.components.jvm import write_log4j2_config
from devstack.components.kafka import Kafka
from devstack.config import REPO_ROOT, STACK_DIR, StatePaths
from devstack.console import say
from devstack.context import StackContext
from devstack.docker import apt_install
from devstack.errors import StackError
from devstack.java import java_for
from outboxkit.cli import installed_version

IMAGES_DIR = STACK_DIR / "images"
PREFIX = "outbox-cdc"


def apt_mirror() -> str:
    """The Debian mirror apt on this machine already uses (not the security one)."""
    mirror = "http://deb.debian.org/debian"
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split(":", 1)[1].split()[0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                return parts[1]
    return mirror


@dataclass(frozen=True)
class Image:
    name: str  # the folder in stack/images, and the part it runs
    tag: str
    build_args: dict[str, str]
    # What the build context holds besides the folder's own files: context path -> source.
    artifacts: Callable[[], dict[str, Path]]


RECIPE_LABEL = "outbox-cdc.recipe"


def image_recipe(tag: str) -> str | None:
    """The recipe label of a built image (None: no such image, or built before labels)."""
    inspected = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{ index .Config.Labels "{RECIPE_LABEL}" }}}}', tag],
        capture_output=True,
        text=True,
        check=False,
    )
    label = inspected.stdout.strip()
    return label if inspected.returncode == 0 and label and label != "<no value>" else None


def image_exists(tag: str) -> bool:
    inspected = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return inspected.returncode == 0


class ImageBuilder:
    def __init__(self, ctx: StackContext) -> None:
        self.ctx = ctx
        self.paths: StatePaths = ctx.paths
        versions = ctx.versions
        self.codename = versions.raw.get("DEBIAN_SUITE", "bookworm")
        # Only Debian's unstable suite has a MySQL server: its image gets a base of that suite
        # (its packages need that suite's libc), the others stay on the stable one.
        self.mysql_suite = versions.raw.get("MYSQL_DEBIAN_SUITE", "sid")
        self.mirror = apt_mirror()
        self.base = self.base_tag(self.codename)
        java17 = f"{PREFIX}/java17:{self.codename}"
        kafka = f"{PREFIX}/kafka:{versions.kafka}"
        python = f"{PREFIX}/python311:{self.codename}"
        self.images = [
            Image("java17", java17, {"BASE": self.base}, dict),
            Image(
                "mysql", f"{PREFIX}/mysql:{self.mysql_suite}", {"BASE": self.base_tag(self.mysql_suite)}, dict
            ),
            Image("kafka", kafka, {"JAVA": java17}, self._kafka_artifacts),
            Image(
                "connect",
                f"{PREFIX}/connect:{versions.debezium}",
                {"KAFKA": kafka},
                self._connect_artifacts,
            ),
            Image(
                "registry",
                f"{PREFIX}/registry:{versions.apicurio}",
                {"BASE": self.base},
                self._registry_artifacts,
            ),
            Image("python311", python, {"BASE": self.base}, dict),
            # What the Kubernetes manifests run (stack k8s render): built from this checkout.
            Image(
                "services",
                f"{PREFIX}/services:{installed_version('outbox-cdc')}",
                {"BASE": python},
                _checkout,
            ),
        ]

    def tags(self) -> dict[str, str]:
        return {image.name: image.tag for image in self.images}

    def _kafka_artifacts(self) -> dict[str, Path]:
        config = self.paths.root / "images" / "kafka-config"
        config.mkdir(parents=True, exist_ok=True)
        # The same logger levels as the native parts: one readable line per event.
        write_log4j2_config(config / "log4j2.properties", "kafka", {**Kafka.log_levels, **Connect.log_levels})
        write_log4j2_config(
            config / "log4j2-quiet.properties", "tools", {"org.apache.kafka": "ERROR", "kafka": "ERROR"}
        )
        return {"libs": self.ctx.installed.kafka_libs, "config": config}

    def _connect_artifacts(self) -> dict[str, Path]:
        # The agent under a name without its version, so the entrypoint need not know it.
        agent = self.paths.root / "images" / "connect-agent"
        agent.mkdir(parents=True, exist_ok=True)
        target = agent / "jmx_prometheus_javaagent.jar"
        target.unlink(missing_ok=True)
        _link_or_copy(str(self.ctx.installed.jmx_agent), str(target))
        return {"plugins": self.ctx.installed.plugins, "agent": agent}

    def _registry_artifacts(self) -> dict[str, Path]:
        java = Path(java_for(21, self.paths.downloads, self.ctx.versions))
        return {"java-runtime": java.parent.parent, "apicurio": self.ctx.installed.registry_home}

    @staticmethod
    def base_tag(suite: str) -> str:
        return f"{PREFIX}/debian:{suite}"

    def build_all(self, rebuild: bool = False) -> dict[str, str]:
        for suite in dict.fromkeys((self.codename, self.mysql_suite)):
            self.base_image(suite, rebuild)
        for image in self.images:
            if image_recipe(image.tag) == self.recipe(image) and not rebuild:
                say(f"image {image.tag}: already built")
                continue
            if image_exists(image.tag) and not rebuild:
                say(f"image {image.tag}: its Dockerfile, files or artifacts changed since it was built")
            self.build(image)
        return self.tags()

    def base_image(self, suite: str, rebuild: bool = False) -> None:
        tag = self.base_tag(suite)
        if image_exists(tag) and not rebuild:
            say(f"image {tag}: already built")
            return
        if shutil.which("debootstrap") is None:
            apt_install(("debootstrap",), "the Debian base image")
        rootfs = self.paths.root / "images" / f"rootfs-{suite}"
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        log = self.paths.logs / f"image-base-{suite}.log"
        say(f"image {tag}: debootstrap {suite} from {self.mirror} (about a minute; log: {log})")
        self._run(["debootstrap", "--variant=minbase", suite, str(rootfs), self.mirror], log)
        say(f"image {tag}: importing")
        with log.open("ab") as handle:
            tar = subprocess.Popen(
                ["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE, stderr=handle
            )
            imported = subprocess.run(
                ["docker", "import", "-", tag],
                stdin=tar.stdout,
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=False,
            )
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
        shutil.rmtree(rootfs, ignore_errors=True)
        if imported.returncode != 0 or tar.returncode != 0:
            raise StackError(f"importing {tag} failed; see {log}")

    def build(self, image: Image) -> None:
        context = self.paths.root / "images" / image.name
        shutil.rmtree(context, ignore_errors=True)
        shutil.copytree(IMAGES_DIR / image.name, context)
        for target, source in image.artifacts().items():
            # Hard links where possible: the artifacts are hundreds of MB, already on this disk.
            if source.is_file():
                _link_or_copy(str(source), str(context / target))
                continue
            shutil.copytree(
                source, context / target, copy_function=_link_or_copy, dirs_exist_ok=True, ignore=NOT_SOURCES
            )
        log = self.paths.logs / f"image-{image.name}.log"
        say(f"image {image.tag}: building (log: {log})")
        argv = ["docker", "build", "--network", "host", "--tag", image.tag]
        argv += ["--label", f"{RECIPE_LABEL}={self.recipe(image)}"]
        for key, value in image.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        self._run([*argv, str(context)], log)
        shutil.rmtree(context, ignore_errors=True)
        say(f"image {image.tag}: built")

    def recipe(self, image: Image) -> str:
        """What an image is built from: its folder's files, its build arguments and which
        artifacts (their folders' names carry their versions). A tag built from another recipe
        is built again."""
        digest = hashlib.sha256()
        for path in sorted((IMAGES_DIR / image.name).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(IMAGES_DIR)).encode() + b"\0" + path.read_bytes())
        for key, value in sorted(image.build_args.items()):
            digest.update(f"{key}={value}\0".encode())
        for target, source in sorted(image.artifacts().items()):
            digest.update(f"{target}={source.resolve().name}\0".encode())
            if source.resolve().is_relative_to(REPO_ROOT) and not source.resolve().is_relative_to(
                self.paths.root
            ):
                # This checkout's own files: what they hold, not only their names.
                files = [source] if source.is_file() else sorted(source.rglob("*"))
                for path in files:
                    if path.is_file() and "__pycache__" not in path.parts:
                        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
        if image.name == "connect":  # its agent is staged under a name without the version
            digest.update(self.ctx.installed.jmx_agent.name.encode())
        return digest.hexdigest()[:16]

    @staticmethod
    def _run(argv: list[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:
            handle.write(f"\n===== {' '.join(argv)}\n".encode())
            handle.flush()
            result = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            lines = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise StackError(
                f"`{' '.join(argv[:3])} ...` failed (exit {result.returncode}); end of {log}:\n{lines}"
            )


# What a build context of this checkout leaves out.
NOT_SOURCES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
# The services' image's context: the files stack/images/services/Dockerfile copies.
CHECKOUT_FILES = (
    "lib",
    "services",
    "devstack",
    "schemas",
    "stack",
    "pyproject.toml",
    "setup.py",
    "README.md",
    "requirements-image.lock",
)


def _checkout() -> dict[str, Path]:
    files = {name: REPO_ROOT / name for name in CHECKOUT_FILES}
    # pip in the build trusts what pip on this machine trusts (a TLS-inspecting proxy's CA).
    trusted = (
        os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    )
    if trusted and Path(trusted).is_file():
        files["ca-bundle.crt"] = Path(trusted)
    return files


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
