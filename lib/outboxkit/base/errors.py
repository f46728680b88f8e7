"""What outboxkit raises on purpose, under one base class.

A caller catches :class:`OutboxKitError` for anything the library refuses or cannot reach; the
two kinds a person's mistake produces (a value refused, a thing not found) are also
``ValueError`` and ``LookupError``, so existing ``except`` clauses keep working. Anything else
(a plain ``ValueError`` from deep inside, say) is a bug and keeps its traceback.
"""

from __future__ import annotations


class OutboxKitError(Exception):
    """Base of every error outboxkit raises on purpose."""


class InvalidValueError(OutboxKitError, ValueError):
    """A value given by a person or a caller is refused; the message names the value and the rule."""


class NotFoundError(OutboxKitError, LookupError):
    """Something asked for by name or id does not exist."""


class UsageError(OutboxKitError):
    """What a person asked for cannot be done as asked; the message says why (a command line
    answers it in one line, exit 2)."""
