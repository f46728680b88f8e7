"""Now, as the tables hold it: naive UTC (``DATETIME(6)`` columns carry no zone)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time in UTC without a zone, as ``DATETIME(6)`` columns store and return it."""
    return datetime.now(UTC).replace(tzinfo=None)
