"""A Docker engine where there is none, and the Compose v2 plugin, for the compose stack.

The native stack never needs any of this. For the compose stack on a machine without Docker:
Debian's ``docker.io`` is installed (as root) and ``dockerd`` started in the background like the
stack's other parts (pid file, log, health check); ``stop`` stops it only if this state
directory started it. Compose v2 is built once from its Go module (no image registry nor
GitHub release is reachable from every machine) and cached under downloads/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devstack.components.base import Component
from devstack.config import StatePaths
from devstack.console import say
from devstack.errors import StackError
from devstack.golang import built_go_program
from devstack.versions import Versions

DOCKER_APT_PACKAGES = ("docker.io",)
SOCKET = "/var/run/docker.sock"


def docker_answers(timeout_s: float = 10.0) -> bool:
    """A real request to the engine: ``docker version`` reports a server."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def apt_install(packages: tuple[str, ...], why: str) -> None:
    if os.geteuid() != 0:
        raise StackError(
            f"{why} needs {' '.join(packages)}, and installing it needs root: run "
            f"`sudo apt-get install -y {' '.join(packages)}`"
        )
    say(f"installing {' '.join(packages)} with apt-get ({why})...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            raise StackError(f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{output}")


class DockerEngine(Component):
    """``dockerd``, started by this state directory when no engine answers."""

    start_timeout = 60.0

    def __init__(self, paths: StatePaths) -> None:
        super().__init__(paths, "dockerd")

    @property
    def ports(self) -> tuple[int, ...]:
        return ()  # a unix socket

    def address(self) -> str:
        return f"unix://{SOCKET}"

    def marker(self) -> str:
        return str(self.home / "dockerd.pid")

    def command(self) -> list[str]:
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        return [dockerd, "--pidfile", self.marker(), "--host", f"unix://{SOCKET}"]

    def is_healthy(self) -> bool:
        return docker_answers()

    def ensure(self) -> bool:
        """An engine that answers; True if this call started it (then ``stop`` stops it)."""
        if docker_answers():
            if self.process.running_pid() is None:
                say("docker: an engine is already running (not started by the stack; left alone)")
            return False
        if shutil.which("dockerd") is None and not Path("/usr/sbin/dockerd").exists():
            apt_install(DOCKER_APT_PACKAGES, "the compose stack")
        if os.geteuid() != 0:
            raise StackError("the Docker engine is not running and starting dockerd needs root")
        self.ensure_running()
        return True


def compose_plugin(paths: StatePaths, versions: Versions) -> Path:
    """``docker compose`` (v2): present already, or built once from its Go module
    (devstack.golang) and installed as a CLI plugin in ~/.docker/cli-plugins."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return Path(shutil.which("docker") or "docker")
    version = versions.raw.get("DOCKER_COMPOSE_VERSION")
    if not version:
        raise StackError("stack/versions.env lacks DOCKER_COMPOSE_VERSION")
    cached = built_go_program(
        paths,
        versions,
        "docker-compose",
        "github.com/docker/compose/v2",
        version,
        "github.com/docker/compose/v2/cmd",
    )
    plugins = Path.home() / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / "docker-compose"
    shutil.copy2(cached, target)
    target.chmod(0o755)
    say(f"docker compose: v{version} installed as {target}")
    return target
