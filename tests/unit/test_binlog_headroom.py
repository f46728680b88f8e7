"""The binlog retention rule: purged or not, and how long a position has (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outboxkit.cdc.binlog import (
    BinlogPosition,
    ServerBinlog,
    assess,
    binlog_index,
    describe_duration,
    is_purged,
    mariadb_gtid_positions,
    mysql_gtids_contain,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEEK = 7 * 86400


def server(
    files=("binlog.000007", "binlog.000008", "binlog.000009"), retention=WEEK, mariadb=True, purged=None
) -> ServerBinlog:
    return ServerBinlog(tuple(files), retention, mariadb, purged, NOW)


def position(file="binlog.000008", gtids=None, handled_hours_ago=1.0) -> BinlogPosition:
    return BinlogPosition(file, 4, gtids, NOW - timedelta(hours=handled_hours_ago), None)


def test_a_streaming_connector_has_the_whole_retention():
    headroom = assess(position(), server(), streaming=True)
    assert (headroom.verdict, headroom.seconds_left) == ("ok", WEEK)


def test_a_stopped_connector_counts_down_from_when_it_was_last_seen():
    headroom = assess(position(handled_hours_ago=24), server(), streaming=False)
    assert headroom.verdict == "ok"
    assert headroom.seconds_left == pytest.approx(WEEK - 86400)
    assert "6d 0h" in headroom.detail


def test_it_warns_once_less_than_half_the_retention_is_left_by_default():
    assert assess(position(handled_hours_ago=80), server(), False).verdict == "ok"
    warned = assess(position(handled_hours_ago=90), server(), False, connector="order-outbox")
    assert warned.verdict == "warning"
    assert warned.seconds_left == pytest.approx(WEEK - 90 * 3600)
    assert "order-outbox" in warned.detail


def test_the_warning_threshold_can_be_set():
    assert assess(position(handled_hours_ago=1), server(), False, warn_below_s=WEEK).verdict == "warning"
    assert assess(position(handled_hours_ago=90), server(), False, warn_below_s=3600).verdict == "ok"


def test_a_later_sign_of_life_than_ts_sec_counts():
    # An idle connector's ts_sec stays old while its heartbeats say it was reading until lately.
    headroom = assess(position(handled_hours_ago=150), server(), False, seen_alive=NOW - timedelta(hours=1))
    assert headroom.verdict == "ok"
    assert headroom.seconds_left == pytest.approx(WEEK - 3600)


def test_a_position_in_the_file_being_written_cannot_be_purged_yet():
    headroom = assess(position(file="binlog.000009", handled_hours_ago=200), server(), False)
    assert headroom.verdict == "ok"


def test_a_file_older_than_the_oldest_kept_is_purged_and_the_detail_names_it_and_the_remedy():
    headroom = assess(position(file="binlog.000005"), server(mariadb=False), False, connector="order-outbox")
    assert headroom.verdict == "purged"
    assert headroom.seconds_left == 0
    assert "binlog.000005 was purged" in headroom.detail
    assert "binlog.000007" in headroom.detail
    assert "cdc recover order-outbox" in headroom.detail


def test_mariadb_gtids_decide_when_the_connector_has_them():
    # The oldest file starts after GTID 0-1-94: a connector at 91 needs 92..94, which are gone.
    assert is_purged(position(gtids="0-1-91"), server(purged="[0-1-94]")) is not None
    # A connector at 94 (or later) needs nothing before the oldest file, whatever its file says.
    assert is_purged(position(file="binlog.000002", gtids="0-1-94"), server(purged="[0-1-94]")) is None
    assert mariadb_gtid_positions("[0-1-94,1-2-7]") == {0: 94, 1: 7}


def test_mysql_gtid_sets_decide_by_containment():
    purged = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100"
    assert mysql_gtids_contain("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-250", purged)
    assert not mysql_gtids_contain("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-50", purged)
    assert not mysql_gtids_contain("aaaaaaaa-71ca-11e1-9e33-c80aa9429562:1-500", purged)
    gone = is_purged(
        position(gtids="3e11fa47-71ca-11e1-9e33-c80aa9429562:1-50"), server(mariadb=False, purged=purged)
    )
    assert gone is not None and "purged GTIDs" in gone


def test_no_retention_means_no_countdown_and_no_position_means_unknown():
    assert assess(position(handled_hours_ago=10_000), server(retention=0), False).seconds_left is None
    assert assess(None, server(), False).verdict == "unknown"
    no_time = BinlogPosition("binlog.000008", 4, None, None, None)
    assert assess(no_time, server(), False).verdict == "unknown"


def test_offsets_parse_and_file_numbers_compare_as_numbers():
    parsed = BinlogPosition.from_offset(
        {
            "ts_sec": 1796062849,
            "file": "binlog.000003",
            "pos": 379,
            "gtids": "0-184054-94",
            "snapshot": "INITIAL",
        }
    )
    assert parsed is not None and parsed.snapshot == "INITIAL" and parsed.handled_at is not None
    assert BinlogPosition.from_offset({}) is None
    assert binlog_index("binlog.1000000") > binlog_index("binlog.999999")
    assert describe_duration(90061) == "1d 1h" and describe_duration(59) == "59s"
