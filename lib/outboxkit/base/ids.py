"""Time-ordered ids for rows that are inserted all day: UUID version 7 (RFC 9562).

A random (version 4) id lands anywhere in its index, so once a table's index outgrows the
buffer pool nearly every insert reads a page from disk first. A version 7 id starts with the
millisecond it was made: new rows land at the end of the index, on pages that are in memory.
Measured with 20 million rows of history per inbox and outbox (docs/benchmarks.md, growth).
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, then 74 random bits (version and variant
    set); ids made later sort after, ids within one millisecond in random order."""
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))
