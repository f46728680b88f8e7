"""History for a growth run: millions of inbox and outbox rows written before the phases, and
the tables' sizes and the before/after comparison printed after them."""

from __future__ import annotations

import shutil
import time
from typing import Any

from devstack.stack import Stack
from outboxkit.ops import publishing_services
from saga_bench import say

# Where each service keeps its inbox and outbox, and the group whose receipts its inbox holds.
HISTORY_TABLES = {d.database_name: d.group_id for d in publishing_services()}
HISTORY_CHUNK = 500_000
HISTORY_TOPIC = "history.events"  # no group commits on it: the pruning never takes these rows


# Inserting tens of millions of rows with random keys into a small buffer pool reads a page from
# disk for almost every row: the history is written with a larger pool, and the measured phases
# run with the server's own again (a history that outgrew memory).
HISTORY_BUFFER_POOL = 8 * 2**30
# On disk per history row (one-byte payloads, as the issue measured), with room for page splits.
HISTORY_BYTES_PER_ROW = {"inbox": 180, "outbox": 285}
HISTORY_DISK_HEADROOM = 1.5


def refuse_without_disk(stack: Stack, rows: int) -> None:
    """Stop before writing when MariaDB's disk cannot take the history: a full disk mid-insert
    would stop the whole stack, not only the benchmark."""
    datadir = stack.mariadb.run_sql("SELECT @@datadir").strip()
    needed = rows * len(HISTORY_TABLES) * sum(HISTORY_BYTES_PER_ROW.values()) * HISTORY_DISK_HEADROOM
    free = shutil.disk_usage(datadir).free
    if free < needed:
        raise SystemExit(
            f"bench_saga.py: --history {rows:,} needs about {needed / 2**30:,.1f} GiB "
            f"in {datadir}, which has {free / 2**30:,.1f} GiB free"
        )
    say(f"history: about {needed / 2**30:,.1f} GiB of {free / 2**30:,.1f} GiB free in {datadir}")


def add_history(stack: Stack, rows: int, days: float = 2.5) -> None:
    """``rows`` rows of history in every inbox and outbox, spread over the last ``days`` (inside
    both retentions, so the services' pruning leaves them alone), written outside the binlog
    (``sql_log_bin=0``): nothing is published. MariaDB's sequence engine generates them."""
    span_us = int(days * 86400 * 1_000_000)
    pool = int(stack.mariadb.run_sql("SELECT @@innodb_buffer_pool_size").strip())
    if pool < HISTORY_BUFFER_POOL:
        say(
            f"history: buffer pool {pool / 2**20:,.0f} MB -> {HISTORY_BUFFER_POOL / 2**20:,.0f} MB "
            "while it is written"
        )
        stack.mariadb.run_sql(f"SET GLOBAL innodb_buffer_pool_size = {HISTORY_BUFFER_POOL}")
    started = time.monotonic()
    try:
        for database, group in HISTORY_TABLES.items():
            done = 0
            while done < rows:
                n = min(HISTORY_CHUNK, rows - done)
                ago = f"UTC_TIMESTAMP(6) - INTERVAL (({done} + seq) * {span_us // max(rows, 1)}) MICROSECOND"
                stack.mariadb.run_sql(
                    f"""
SET SESSION sql_log_bin = 0;
INSERT INTO {database}.inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset,
  processed_at, aggregate_type, aggregate_id, aggregate_version, outcome)
SELECT '{group}', UUID(), 'HistoryEvent', '{HISTORY_TOPIC}', seq % 6, {done} + seq, {ago}, 'history',
  UUID(), 1, 'applied' FROM {database}.seq_1_to_{n};
INSERT INTO {database}.outbox (id, aggregatetype, aggregateid, type, aggregate_version, payload, occurred_at)
SELECT UUID(), 'history', UUID(), 'HistoryEvent', 1, 'x', {ago} FROM {database}.seq_1_to_{n};
""",
                    timeout=3600,
                )
                done += n
                elapsed = time.monotonic() - started
                say(
                    f"history: {database}: {done:,} of {rows:,} rows in its inbox and its outbox "
                    f"({elapsed:.0f} s so far)"
                )
    finally:
        if pool < HISTORY_BUFFER_POOL:
            stack.mariadb.run_sql(f"SET GLOBAL innodb_buffer_pool_size = {pool}")
            say(f"history: buffer pool back to {pool / 2**20:,.0f} MB")


def remove_history(stack: Stack) -> None:
    """The history rows again (they would otherwise stay: no group commits on their topic). With
    the services stopped, each table's other rows are copied to a new table that then takes its
    place (outside the binlog, same definition): deleting tens of millions of rows would take
    longer than writing them did."""
    for database in HISTORY_TABLES:
        for table, keep in (
            ("inbox", f"topic <> '{HISTORY_TOPIC}'"),
            ("outbox", "aggregatetype <> 'history'"),
        ):
            stack.mariadb.run_sql(
                f"""
SET SESSION sql_log_bin = 0;
DROP TABLE IF EXISTS {database}.{table}_kept, {database}.{table}_history;
CREATE TABLE {database}.{table}_kept LIKE {database}.{table};
INSERT INTO {database}.{table}_kept SELECT * FROM {database}.{table} WHERE {keep};
RENAME TABLE {database}.{table} TO {database}.{table}_history, {database}.{table}_kept TO {database}.{table};
DROP TABLE {database}.{table}_history;
""",
                timeout=3600,
            )
        say(f"history: removed from {database}")


def table_rows(stack: Stack) -> dict[str, int]:
    counts = stack.mariadb.run_sql(
        " UNION ALL ".join(
            f"SELECT '{db}.{table}', COUNT(*) FROM {db}.{table}"
            for db in HISTORY_TABLES
            for table in ("inbox", "outbox")
        )
    )
    return {name: int(count) for name, count in (line.split("\t") for line in counts.splitlines())}


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def print_table_sizes(sizes: list[tuple[float, dict[str, int]]]) -> None:
    """Each table's rows at the start, after each quarter of the run and at the end."""
    start = sizes[0][0]
    marks = sorted({0, len(sizes) // 4, len(sizes) // 2, 3 * len(sizes) // 4, len(sizes) - 1})
    print("\n== rows of each table over the run (minutes from the start)")
    print("   " + f"{'table':<22}" + "".join(f"{(sizes[i][0] - start) / 60:>10.1f}" for i in marks))
    for table in sizes[0][1]:
        print("   " + f"{table:<22}" + "".join(f"{sizes[i][1].get(table, 0):>10,}" for i in marks))


def flat(phase: dict[str, Any]) -> str:
    return "flat" if phase["lag_flat"] else "GROWING"


def print_comparison(phases: list[dict[str, Any]], first: str, second: str, title: str) -> None:
    """Per rate, round ``first`` against round ``second`` of the same run: the saga's p50/p99,
    the achieved rate, lag, and the CPU the flow's services took (% of one core, summed)."""
    print(f"\n== {title} (same rates, same run)")
    print(
        f"   {'rate':>6}  {'saga p50 ms':>17}  {'saga p99 ms':>17}  {'achieved/s':>15}  "
        f"{'services CPU %':>15}  lag"
    )
    for before in (p for p in phases if p["round"] == first):
        found = next((p for p in phases if p["round"] == second and p["rate"] == before["rate"]), None)
        if found is None:
            continue
        after: dict[str, Any] = found

        def pair(key: str, phase_a: dict[str, Any] = before, phase_b: dict[str, Any] = after) -> str:
            return f"{phase_a['saga_ms'][key]} -> {phase_b['saga_ms'][key]}"

        def services_cpu(phase: dict[str, Any]) -> float:
            return round(float(sum(v for k, v in phase["cpu_share"].items() if k.endswith("-service"))), 1)

        print(
            f"   {before['rate']:>6g}  {pair('p50'):>17}  {pair('p99'):>17}  "
            f"{before['achieved_rate']:>6g} -> {after['achieved_rate']:<6g}  "
            f"{services_cpu(before):>6g} -> {services_cpu(after):<6g}  "
            f"{flat(before)} -> {flat(after)}"
        )
