"""Now, as the tables hold it: naive UTC (``DATETIME(6)`` columns carry no zone)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
