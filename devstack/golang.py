"""Go programs the stack needs and no registry here serves as a binary, built once from their
modules (the Go proxy is reachable): Compose v2 for the compose stack, Jaeger for traces.

A build lands in ``downloads/<name>-<version>/<name>`` and is reused; its output goes to
``logs/<name>-build.log``. The machine's ``go`` builds it; without one, the toolchain is fetched
from the Go proxy (``golang.org/toolchain``, the zip ``GOTOOLCHAIN`` itself downloads) at the
version ``GO_TOOLCHAIN_VERSION`` pins. A Go that is too old for the module fetches the newer one
it asks for the same way (``GOTOOLCHAIN=auto``).
"""

from __future__ import annotations

import fcntl
import io
import os
import platform
import shutil
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

import requests

from devstack.config import StatePaths
from devstack.console import relative, say
from devstack.errors import StackError
from devstack.versions import Versions

GO_PROXY = "https://proxy.golang.org"
GO_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def go_command(paths: StatePaths, versions: Versions) -> str:
    """A ``go`` to build with: the machine's, else the pinned toolchain from the Go proxy."""
    found = shutil.which("go") or next((str(p) for p in (Path("/usr/local/go/bin/go"),) if p.is_file()), None)
    if found:
        return found
    version = versions.raw.get("GO_TOOLCHAIN_VERSION")
    if not version:
        raise StackError("`go` is not on PATH and stack/versions.env lacks GO_TOOLCHAIN_VERSION")
    target = paths.downloads / f"go-{version}"
    go = target / "go" / "bin" / "go"
    if go.is_file():
        return str(go)
    arch = GO_ARCHES.get(platform.machine().lower())
    system = platform.system().lower()
    if arch is None or system not in {"linux", "darwin"}:
        raise StackError(f"no Go toolchain to fetch for {system}/{platform.machine()}: install Go")
    url = f"{GO_PROXY}/golang.org/toolchain/@v/v0.0.1-go{version}.{system}-{arch}.zip"
    say(f"go: not installed; fetching the Go {version} toolchain from the Go proxy (once): {url}")
    try:
        response = requests.get(url, timeout=600)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise StackError(f"could not fetch the Go toolchain from {url}: {exc}") from None
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        # Entries are "golang.org/toolchain@v0.0.1-go<version>.<os>-<arch>/bin/go" and so on.
        for info in archive.infolist():
            parts = info.filename.split("/", 2)
            if len(parts) < 3 or not parts[2] or info.is_dir():
                continue
            destination = tmp / "go" / parts[2]
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(info))
            # Zip entries keep their Unix mode in the upper half of external_attr.
            destination.chmod((info.external_attr >> 16) & 0o777 or 0o644)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    if not go.is_file():
        raise StackError(f"the Go toolchain from {url} has no bin/go")
    return str(go)


def built_go_program(
    paths: StatePaths,
    versions: Versions,
    name: str,
    module: str,
    version: str,
    package: str,
    *,
    follow_replaces: bool = False,
) -> Path:
    """``package`` (in ``module`` at ``version``) built once into downloads; its path.

    ``go install pkg@version`` refuses a module whose go.mod has ``replace`` directives (Jaeger's
    has): with ``follow_replaces`` it is built inside a throwaway module that requires it and
    copies its replacements, so the build uses exactly the versions its authors tested.
    """
    folder = paths.downloads / f"{name}-{version}"
    binary = folder / name
    if binary.is_file():
        return binary
    # One build at a time: a second caller (a test waiting for `./run test`'s build started in
    # the background) waits for the first, then finds the binary.
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{name}-{version}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{name}: another process is building v{version}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        return _build(paths, versions, name, module, version, package, follow_replaces, binary)


def _build(
    paths: StatePaths,
    versions: Versions,
    name: str,
    module: str,
    version: str,
    package: str,
    follow_replaces: bool,
    binary: Path,
) -> Path:
    folder = binary.parent
    go = go_command(paths, versions)
    paths.logs.mkdir(parents=True, exist_ok=True)
    log = paths.logs / f"{name}-build.log"
    say(f"{name}: building {module} v{version} with Go (several minutes, once; log: {relative(log)})")
    source = folder / "module"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "auto"}

    def go_run(args: Sequence[str], cwd: Path) -> str:
        with log.open("ab") as handle:
            handle.write(f"\n===== go {' '.join(args)}\n".encode())
        result = subprocess.run([go, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
        with log.open("a") as handle:
            handle.write(result.stdout + result.stderr)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise StackError(
                f"building {name} v{version} failed at `go {args[0]}`: {last} (see {relative(log)})"
            )
        return result.stdout

    if not follow_replaces:
        env["GOBIN"] = str(source)
        go_run(["install", f"{package}@v{version}"], source)
        # `go install` names the binary after the package's last path element.
        (source / package.rsplit("/", 1)[-1]).replace(binary)
    else:
        go_run(["mod", "init", f"devstack.local/{name}"], source)
        go_run(["get", f"{module}@v{version}"], source)
        module_file = Path(go_run(["list", "-m", "-f", "{{.GoMod}}", module], source).strip())
        for replacement in replaces(module_file.read_text()):
            go_run(["mod", "edit", f"-replace={replacement}"], source)
        go_run(["get", f"{package}@v{version}"], source)
        go_run(["build", "-trimpath", "-o", str(binary), package], source)
    shutil.rmtree(source, ignore_errors=True)
    say(f"{name}: built {relative(binary)}")
    return binary


def replaces(go_mod: str) -> list[str]:
    """The ``old=new`` form of every replace directive in a go.mod (single-line and block)."""
    found = []
    in_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line == "replace (":
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        if line.startswith("replace "):
            line = line.removeprefix("replace ").strip()
        elif not in_block:
            continue
        if "=>" in line:
            old, new = (part.strip().replace(" ", "@") for part in line.split("=>", 1))
            found.append(f"{old}={new}")
    return found
