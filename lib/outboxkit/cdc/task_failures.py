"""Which connector task failures heal by themselves, and which no restart can fix.

A task that failed because the database or Kafka was away runs again once they are back: a
restart is the cure (:mod:`outboxkit.cdc.supervisor` does it). Two failures restart into the
same failure for ever, and restarting them only hides the cause under a loop of restarts:

- **the binlog position was purged**: the server no longer has the file (or the GTIDs) the
  connector must resume from. Only ``outboxkit cdc recover`` helps (:mod:`outboxkit.cdc.recovery`).
- **the database refused the CDC user**: a wrong password, a dropped user, missing grants.
  Someone has to fix the credentials first.
- **a captured table's schema is not in the connector's schema history** (a table added to
  ``table.include.list`` whose DDL the history never recorded): a new snapshot records it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

BINLOG_PURGED = "binlog position purged"
CREDENTIALS_REFUSED = "credentials refused"
SCHEMA_UNKNOWN = "a captured table is missing from its schema history"

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        BINLOG_PURGED,
        re.compile(
            r"Could not find GTID state requested by slave"  # MariaDB, GTID
            r"|Could not find first log file name in binary log index file"  # MySQL, file position
            r"|required binlog files have been purged"
            r"|purged binary logs containing GTIDs that the slave requires"  # MySQL, GTID
            # Debezium's own check at start (BaseSourceTask), before the server is even asked.
            r"|The connector is trying to read (?:binlog|change stream) starting at",
            re.IGNORECASE,
        ),
    ),
    (SCHEMA_UNKNOWN, re.compile(r"whose schema isn't known to this connector", re.IGNORECASE)),
    (
        CREDENTIALS_REFUSED,
        re.compile(
            r"Access denied for user|Authentication plugin .* cannot be loaded"
            r"|Public Key Retrieval is not allowed",
            re.IGNORECASE,
        ),
    ),
)


@dataclass(frozen=True)
class PermanentFailure:
    kind: str
    evidence: str  # the line of the trace that says so
    advice: str

    def sentence(self, connector: str) -> str:
        return f"{connector}: not restarting it: {self.kind} ({self.evidence}); {self.advice}"


def permanent_failure(traces: Iterable[str], connector: str) -> PermanentFailure | None:
    """What in the tasks' traces says a restart cannot help, or None for a failure that may heal."""
    for trace in traces:
        for kind, pattern in _RULES:
            match = pattern.search(trace)
            if match is None:
                continue
            line = next((ln.strip() for ln in trace.splitlines() if match.group(0) in ln), match.group(0))
            evidence = re.sub(r"^(Caused by: )?(\S+(Exception|Error): )+", "", line)[:240]
            if kind == BINLOG_PURGED:
                advice = (
                    f"run `outboxkit cdc recover {connector}` to stream from the current binlog and "
                    "republish the outbox rows it may have missed"
                )
            elif kind == SCHEMA_UNKNOWN:
                advice = (
                    f"run `outboxkit cdc recover {connector} --force`: its snapshot records the tables' "
                    "schemas again and republishes what it may have missed"
                )
            else:
                advice = (
                    "fix the CDC user's password (CDC_DB_PASSWORD) or grants, "
                    f"then `outboxkit cdc restart {connector}`"
                )
            return PermanentFailure(kind, evidence, advice)
    return None
