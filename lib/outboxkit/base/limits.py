"""Ranges every value must fit before it is written: the Avro types and the SQL columns.

A value that does not fit fails with a message naming the field, before any I/O, instead of a
driver error (``Out of range value``) or an Avro encoding error halfway through a transaction.
"""

from __future__ import annotations

from outboxkit.base.errors import InvalidValueError

MAX_INT32 = 2**31 - 1  # Avro int, SQL INT
MAX_INT64 = 2**63 - 1  # Avro long, SQL BIGINT


def bounded_int(field: str, value: object, minimum: int, maximum: int) -> int:
    """``value`` if it is a whole number (not a bool) in [minimum, maximum], else an
    :class:`InvalidValueError` naming ``field``: for what a person or a message supplies."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{field} must be a whole number, got {value!r}")
    if not minimum <= value <= maximum:
        raise InvalidValueError(f"{field} must be between {minimum} and {maximum}, got {value}")
    return value


def bounded_text(field: str, value: object, max_length: int) -> str:
    """``value`` if it is a non-blank string of at most ``max_length`` characters, else an
    :class:`InvalidValueError` naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidValueError(f"{field} must be at most {max_length} characters, got {len(value)}")
    return value
