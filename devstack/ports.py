"""Who listens on a TCP port, read from /proc (no `ss`/`lsof` needed on a bare machine)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from devstack.process import read_cmdline

_LISTEN = "0A"  # TCP state code for LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class Listener:
    port: int
    pid: int | None
    cmdline: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "an unknown process (not visible from here)"
        return f"pid {self.pid} ({self.cmdline or '?'})"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def _pid_owning(inodes: set[str]) -> int | None:
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                try:
                    if os.readlink(fd.path) in targets:
                        return int(entry.name)
                except OSError:
                    continue
        except OSError:
            continue
    return None


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_listening(port: int) -> bool:
    """True if something listens on ``port``, checked without connecting.

    A probe connection that closes without logging in is logged by MariaDB as an aborted
    connection: /proc/net/tcp answers the same question silently.
    """
    return bool(_listening_inodes(port)) or port_accepts(port)


def find_listener(port: int) -> Listener | None:
    """The process listening on ``port`` (any address), or None if the port is free."""
    inodes = _listening_inodes(port)
    if not inodes:
        # /proc/net may be unreadable in odd sandboxes: fall back to trying to connect.
        return Listener(port, None, None) if port_accepts(port) else None
    pid = _pid_owning(inodes)
    cmdline = " ".join(read_cmdline(pid) or []) if pid else None
    if cmdline and len(cmdline) > 200:
        cmdline = cmdline[:200] + "..."
    return Listener(port, pid, cmdline)
