"""Binlog retention: how long a connector's committed position stays on the server.

Debezium keeps its promise (nothing committed is lost) only while the binlog file holding its
committed position still exists. The server deletes binlog files older than its retention
(``binlog_expire_logs_seconds``), and an operator may purge them to free a disk; a connector
that was down, failed or paused for longer is left pointing at nothing, and every connector
reading that server stops at once (MariaDB: "Could not find GTID state requested by slave in
any binlog files ... (1236)").

The rule, in :func:`assess`:

- **purged**: the server no longer has what the connector needs. With GTIDs, a domain (MariaDB)
  or a server uuid (MySQL) the server has purged past the connector's GTID; without, the
  connector's file is older than the server's oldest file. Only ``outboxkit cdc recover`` brings it back.
- otherwise the file is deleted no earlier than ``retention`` after it was closed, and it was
  closed after the connector was last seen reading it (the offset's ``ts_sec``, its last
  heartbeat, when its offset was committed): the position has at least
  ``last seen + retention - now`` left. A connector that streams keeps up with the
  binlog, so its position is as safe as the newest file; one that does not loses headroom
  second by second, and is **warned** about once less than ``warn_below_s`` is left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymysql

from outboxkit.base.errors import InvalidValueError

DAY_S = 86_400
_BINLOG_INDEX = re.compile(r"\.(\d+)$")
_MARIADB_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")


@dataclass(frozen=True)
class BinlogPosition:
    """A connector's committed place in the binlog (from its Kafka Connect source offset)."""

    file: str
    pos: int
    gtids: str | None
    handled_at: datetime | None  # ts_sec: binlog time of the last event it handled (UTC)
    snapshot: str | None  # set while an initial snapshot is still in progress

    @classmethod
    def from_offset(cls, offset: Mapping[str, Any] | None) -> BinlogPosition | None:
        if not offset or "file" not in offset:
            return None
        seconds = offset.get("ts_sec")
        handled = datetime.fromtimestamp(int(str(seconds)), UTC) if str(seconds or "").isdigit() else None
        snapshot = offset.get("snapshot")
        return cls(
            str(offset["file"]),
            int(offset.get("pos", 0)),
            offset.get("gtids") or None,
            handled,
            None if snapshot in (None, False, "false") else str(snapshot),
        )

    def describe(self) -> str:
        where = f"{self.file}:{self.pos}"
        if self.gtids:
            where += f" (GTID {self.gtids})"
        return where


@dataclass(frozen=True)
class ServerBinlog:
    """What the database server keeps of its binlog, read by :func:`read_server_binlog`."""

    files: tuple[str, ...]  # oldest first; the last one is being written
    retention_s: int  # 0: binlogs are never deleted by age
    is_mariadb: bool
    # MariaDB: the GTID state at the start of the oldest file (what was purged before it).
    # MySQL: @@gtid_purged. None when the server does not use GTIDs.
    purged_gtids: str | None
    read_at: datetime

    @property
    def oldest(self) -> str | None:
        return self.files[0] if self.files else None

    @property
    def newest(self) -> str | None:
        return self.files[-1] if self.files else None


@dataclass(frozen=True)
class Headroom:
    """How much time a connector's position has before the server deletes it."""

    verdict: str  # "ok", "warning", "purged" or "unknown"
    seconds_left: float | None  # None: no limit (no retention), or unknown
    detail: str  # one line: what was compared, and what to do

    @property
    def ok(self) -> bool:
        return self.verdict in ("ok", "warning")


def binlog_index(name: str) -> int:
    """``binlog.000042`` -> 42 (files are compared by number: names wrap in width, not order)."""
    match = _BINLOG_INDEX.search(name)
    if not match:
        raise InvalidValueError(f"{name!r} is not a binlog file name")
    return int(match.group(1))


def mariadb_gtid_positions(text: str | None) -> dict[int, int]:
    """``0-184054-91,1-7-3`` -> {domain: sequence}; the sequence is what orders a domain."""
    positions: dict[int, int] = {}
    for part in (text or "").replace("[", "").replace("]", "").split(","):
        match = _MARIADB_GTID.match(part.strip())
        if match:
            positions[int(match.group(1))] = int(match.group(3))
    return positions


def mysql_gtid_set(text: str | None) -> dict[str, list[tuple[int, int]]]:
    """``uuid:1-5:7,uuid2:1-3`` -> {uuid: [(1, 5), (7, 7)]} (intervals inclusive)."""
    sets: dict[str, list[tuple[int, int]]] = {}
    for part in (text or "").replace("\n", "").split(","):
        fields = part.strip().split(":")
        if len(fields) < 2:
            continue
        intervals = sets.setdefault(fields[0].lower(), [])
        for interval in fields[1:]:
            low, _, high = interval.partition("-")
            intervals.append((int(low), int(high or low)))
    return sets


def mysql_gtids_contain(outer: str | None, inner: str | None) -> bool:
    """Whether every transaction of ``inner`` is in ``outer`` (MySQL GTID sets)."""
    have = mysql_gtid_set(outer)
    for source, intervals in mysql_gtid_set(inner).items():
        for low, high in intervals:
            if not any(a <= low and high <= b for a, b in have.get(source, [])):
                return False
    return True


def is_purged(position: BinlogPosition, server: ServerBinlog) -> str | None:
    """Why the server no longer has what ``position`` needs, or None when it still has it."""
    file_gone = bool(server.oldest) and binlog_index(position.file) < binlog_index(server.oldest or "")
    why = gtids_purged(position, server) if position.gtids and server.purged_gtids else None
    if why is None and not (file_gone and not (position.gtids and server.purged_gtids)):
        return None
    file_note = f"{position.file} was purged; the oldest binlog the server has is {server.oldest}"
    return f"{file_note} ({why})" if why and file_gone else (why or file_note)


def gtids_purged(position: BinlogPosition, server: ServerBinlog) -> str | None:
    """With GTIDs the file does not matter (a connector resumes by GTID): what was purged does."""
    if position.gtids and server.purged_gtids:
        if server.is_mariadb:
            mine = mariadb_gtid_positions(position.gtids)
            for domain, purged_up_to in mariadb_gtid_positions(server.purged_gtids).items():
                if mine.get(domain, 0) < purged_up_to:
                    return (
                        f"the server purged GTID domain {domain} up to sequence {purged_up_to}, "
                        f"past the connector's {mine.get(domain, 'nothing')}"
                    )
            return None
        if not mysql_gtids_contain(position.gtids, server.purged_gtids):
            return f"the server purged GTIDs ({server.purged_gtids}) the connector has not read"
    return None


def assess(
    position: BinlogPosition | None,
    server: ServerBinlog,
    streaming: bool,
    warn_below_s: float | None = None,
    connector: str = "the connector",
    seen_alive: datetime | None = None,
) -> Headroom:
    """The rule in the module's docstring. ``warn_below_s`` defaults to half the retention;
    ``seen_alive`` is a later sign of life than the offset's ``ts_sec`` (its last heartbeat, when
    its offset was committed): an idle connector's position moves on while its ``ts_sec`` does not."""
    if position is None:
        return Headroom("unknown", None, "no committed binlog position yet")
    purged = is_purged(position, server)
    if purged is not None:
        return Headroom(
            "purged",
            0.0,
            f"binlog position {position.describe()} is gone: {purged}; "
            f"CDC cannot resume. Run `outboxkit cdc recover {connector}` to stream from the current "
            "binlog and republish the outbox rows it may have missed",
        )
    if server.retention_s <= 0:
        return Headroom("ok", None, f"at {position.describe()}; the server never expires binlogs")
    retention = describe_duration(server.retention_s)
    if streaming or position.file == server.newest:
        return Headroom(
            "ok",
            float(server.retention_s),
            f"at {position.describe()}, the binlog's head; binlogs are kept {retention}",
        )
    alive = max((t for t in (position.handled_at, seen_alive) if t is not None), default=None)
    if alive is None:
        return Headroom(
            "unknown",
            None,
            f"at {position.describe()}; nothing says since when (no ts_sec in its offset, no heartbeat)",
        )
    left = (alive.timestamp() + server.retention_s) - server.read_at.timestamp()
    threshold = server.retention_s / 2 if warn_below_s is None else warn_below_s
    if left <= 0:
        when = "now: it is purged when the server next rotates its binlog"
    else:
        when = f"in {describe_duration(left)} at the latest"
    detail = (
        f"not streaming since {alive:%Y-%m-%d %H:%M:%S} UTC, at {position.describe()}; "
        f"binlogs are kept {retention}, so this "
        f"position may be purged {when}"
    )
    if left < threshold:
        return Headroom(
            "warning",
            max(0.0, left),
            f"{detail}. Get {connector} streaming again "
            f"(`outboxkit cdc status`, `outboxkit cdc restart {connector}`) before that",
        )
    return Headroom("ok", left, detail)


def describe_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, DAY_S)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def read_server_binlog(connection: pymysql.connections.Connection) -> ServerBinlog:
    """The server's binlog files, retention and purged GTIDs (needs REPLICATION CLIENT/SLAVE,
    which the CDC user has)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), UTC_TIMESTAMP(6)")
        version, now = cursor.fetchone() or (None, None)
        is_mariadb = "mariadb" in str(version).lower()
        cursor.execute("SHOW BINARY LOGS")
        files = tuple(str(row[0]) for row in cursor.fetchall())
        cursor.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
            "('binlog_expire_logs_seconds', 'expire_logs_days', 'gtid_mode', 'gtid_purged')"
        )
        variables = {str(name).lower(): str(value) for name, value in cursor.fetchall()}
        purged: str | None = None
        if is_mariadb and files:
            # Every MariaDB binlog starts with the GTID state before it: what the oldest file
            # starts from is what has been purged.
            cursor.execute(f"SHOW BINLOG EVENTS IN '{files[0]}' LIMIT 4")
            for row in cursor.fetchall():
                if str(row[2]) == "Gtid_list":
                    purged = str(row[5]).strip() or None
        elif variables.get("gtid_mode", "OFF").upper() == "ON":
            purged = variables.get("gtid_purged", "").strip() or None
    seconds = int(float(variables.get("binlog_expire_logs_seconds", "0") or 0))
    if seconds <= 0:
        seconds = int(float(variables.get("expire_logs_days", "0") or 0) * DAY_S)
    return ServerBinlog(files, seconds, is_mariadb, purged, now.replace(tzinfo=UTC))
