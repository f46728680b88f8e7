"""What the JVM parts need besides their paths, computed once per command and only if used.

``stack status`` and ``stack down`` never touch versions or downloads; ``stack up`` resolves
them on first use.
"""

from __future__ import annotations

from functools import cached_property

from devstack.config import StatePaths, Topology
from devstack.downloads import Installed, ensure_downloads
from devstack.stackenv import ensure_stack_env
from devstack.versions import Versions, load_versions


class StackContext:
    def __init__(self, paths: StatePaths, topology: Topology | None = None, tracing: bool = False) -> None:
        self.paths = paths
        self.topology = topology or Topology()
        self.tracing = tracing

    @cached_property
    def versions(self) -> Versions:
        return load_versions()

    @cached_property
    def installed(self) -> Installed:
        return ensure_downloads(self.paths, self.versions)

    @cached_property
    def stack_env(self) -> dict[str, str]:
        return ensure_stack_env(self.paths, self.topology, self.tracing)
