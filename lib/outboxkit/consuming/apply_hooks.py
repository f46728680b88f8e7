"""A hook into the consumer's apply loop: told when each handler has run and when each
transaction has committed, before the record's offset is stored.

These are the two moments that matter to exactly-once (a crash after the handler rolls its
writes back; a crash after the commit delivers the record again), so a team's failure drills,
fault injection or extra instrumentation hang here. A process takes its hooks from the
``OUTBOXKIT_APPLY_HOOKS`` setting, ``module:function``, the function given the process's
:class:`~outboxkit.base.settings.Settings` and returning an :class:`ApplyHooks`; unset, there are
none.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from outboxkit.base.settings import Settings, SettingsError

APPLY_HOOKS_SETTING = "OUTBOXKIT_APPLY_HOOKS"


class ApplyHooks(Protocol):
    """What the apply loop tells, in its own thread; a hook that raises fails the batch."""

    def handler_ran(self, what: str) -> None:
        """A handler has run for ``what`` (an event), inside the transaction, before its commit."""

    def committed(self, what: str) -> None:
        """The transaction applying ``what`` (an event or a batch) has committed; its offset is
        not stored yet."""


class NoHooks:
    def handler_ran(self, what: str) -> None:
        pass

    def committed(self, what: str) -> None:
        pass


def apply_hooks_from(settings: Settings) -> ApplyHooks:
    """The hooks ``OUTBOXKIT_APPLY_HOOKS`` names (``module:function``), else none."""
    named = settings.get(APPLY_HOOKS_SETTING, "").strip()
    if not named:
        return NoHooks()
    module_name, _, function_name = named.partition(":")
    if not module_name or not function_name:
        raise SettingsError(f"{APPLY_HOOKS_SETTING}={named!r} is not module:function")
    try:
        factory: Callable[[Settings], ApplyHooks] = getattr(
            importlib.import_module(module_name), function_name
        )
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"{APPLY_HOOKS_SETTING}={named!r} cannot be loaded ({exc})") from None
    return factory(settings)
