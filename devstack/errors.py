"""The one exception type devstack raises for problems a person can fix."""

from __future__ import annotations


class StackError(RuntimeError):
    """A stack step failed; the message says what and, where possible, what to do.

    The CLI prints the message without a traceback: these are expected failures (a port in
    use, Java too old, a download that failed), not bugs.
    """
