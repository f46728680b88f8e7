"""Counters read from the stack's JVMs while the saga runs: the broker's requests by kind and the
messages it took in, Debezium's binlog events seen and transactions. ``JmxProbe.java`` attaches
to each running JVM (the JDK's Attach API), so the figures come the same way from a stack of any
commit, with nothing configured in it beforehand."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

PROBE = Path(__file__).with_name("JmxProbe.java")

KAFKA_QUERIES = (
    "kafka.network:type=RequestMetrics,name=RequestsPerSec,*=Count",
    "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec=Count",
    "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec=Count",
)
CONNECT_QUERIES = (
    "debezium.*:type=connector-metrics,context=streaming,*=TotalNumberOfEventsSeen",
    # Each task's producer: the records it sent, and the produce requests they took.
    "kafka.producer:type=producer-metrics,*=record-send-total,request-total",
)


class JvmCounters:
    """One attached probe process per JVM; :meth:`sample` reads every counter now."""

    def __init__(self, pid: int, queries: tuple[str, ...]) -> None:
        java = shutil.which("java")
        if java is None:
            raise FileNotFoundError("java is not on PATH (the benchmark's JMX probe needs it)")
        self._process = subprocess.Popen(
            [java, str(PROBE), str(pid), *queries],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def sample(self) -> dict[str, float]:
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write("sample\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except OSError:
            return {}
        return json.loads(line) if line.strip() else {}

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()


def kafka_counts(sample: dict[str, float]) -> dict[str, float]:
    """Requests by kind (``Fetch`` counts consumers' and followers' fetches alike), and
    ``messages in``."""
    counts: dict[str, float] = defaultdict(float)
    for key, value in sample.items():
        name, _attribute = key.rsplit("|", 1)
        if "request=" in name:
            request = name.split("request=", 1)[1].split(",", 1)[0]
            if request not in ("FetchConsumer", "FetchFollower"):
                counts[request] += value
        elif "MessagesInPerSec" in name:
            counts["messages in"] += value
        elif "BytesInPerSec" in name:
            counts["bytes in"] += value
    return dict(counts)


def connect_counts(sample: dict[str, float]) -> dict[str, float]:
    """Binlog events every connector's reader saw (summed over connectors), and what the
    connectors' producers sent."""
    counts: dict[str, float] = defaultdict(float)
    for key, value in sample.items():
        name, attribute = key.rsplit("|", 1)
        if name.startswith("debezium."):
            counts["binlog events seen"] += value
        elif "client-id=connector-producer-" in name:
            counts["records sent" if attribute == "record-send-total" else "produce requests"] += value
    return dict(counts)


# The database's own counters (SHOW GLOBAL STATUS): statements, commits, fsyncs, binlog bytes.
DATABASE_COUNTERS = {
    "Questions": "statements",
    "Com_commit": "commits",
    "Com_rollback": "rollbacks",
    "Com_admin_commands": "pings",
    "Com_select": "selects",
    "Com_insert": "inserts",
    "Com_update": "updates",
    "Innodb_data_fsyncs": "fsyncs",
    "Binlog_bytes_written": "binlog bytes",
}


def database_counts(status: str) -> dict[str, float]:
    """``SHOW GLOBAL STATUS`` rows (tab-separated name, value) as the counters above."""
    counts = {}
    for line in status.splitlines():
        name, _, value = line.partition("\t")
        if name in DATABASE_COUNTERS and value.strip().isdigit():
            counts[DATABASE_COUNTERS[name]] = float(value)
    return counts


def database_status_sql() -> str:
    names = ", ".join(f"'{name}'" for name in DATABASE_COUNTERS)
    return f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})"


def per_order(before: dict[str, float], after: dict[str, float], orders: int) -> dict[str, float]:
    """What each counter grew by, per order."""
    if orders <= 0:
        return {}
    return {
        key: round((after[key] - before.get(key, 0.0)) / orders, 2)
        for key in sorted(after)
        if after[key] - before.get(key, 0.0) > 0
    }
