"""Failure drills: SIGKILL a service at the two moments that hurt exactly-once the most.

The e2e tests start a service with ``drill_env(after_commits=N)`` or ``drill_env(before_commit=N)``
in its environment, which names these drills as its apply hooks (outboxkit's
``OUTBOXKIT_APPLY_HOOKS``) and says when to strike, to prove that a crash there neither loses nor
doubles an effect:

- after the Nth handler transaction commits, before its offset is stored
  (``CONSUMER_CRASH_AFTER_COMMITS=N``): the record comes again and must not apply twice;
- when the Nth handler has run but its transaction has not committed
  (``CONSUMER_CRASH_BEFORE_COMMIT=N``): everything the handler wrote is rolled back, while calls
  it made to the outside world have happened.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass

from outboxkit import Settings

log = logging.getLogger(__name__)

AFTER_COMMITS = "CONSUMER_CRASH_AFTER_COMMITS"
BEFORE_COMMIT = "CONSUMER_CRASH_BEFORE_COMMIT"
HOOKS = "devstack.drills:from_settings"


@dataclass
class FailureDrills:
    crash_after_commits: int | None = None
    crash_before_commit: int | None = None
    _handled: int = 0
    _committed: int = 0

    def handler_ran(self, what: str) -> None:
        self._handled += 1
        if self.crash_before_commit == self._handled:
            self._kill(f"SIGKILL before the DB commit of {what} (handler done)")

    def committed(self, what: str) -> None:
        self._committed += 1
        if self.crash_after_commits == self._committed:
            self._kill(f"SIGKILL after DB commit of {what}, before its offset")

    @staticmethod
    def _kill(what: str) -> None:
        log.warning("failure drill: %s", what)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


def from_settings(settings: Settings) -> FailureDrills:
    """The drills the settings ask for (outboxkit calls this: OUTBOXKIT_APPLY_HOOKS)."""
    return FailureDrills(
        settings.get_optional_int(AFTER_COMMITS, 1), settings.get_optional_int(BEFORE_COMMIT, 1)
    )


def drill_env(after_commits: int | None = None, before_commit: int | None = None) -> dict[str, str]:
    """A service's environment for a drill: the hooks named, and when they strike."""
    env = {"OUTBOXKIT_APPLY_HOOKS": HOOKS}
    if after_commits is not None:
        env[AFTER_COMMITS] = str(after_commits)
    if before_commit is not None:
        env[BEFORE_COMMIT] = str(before_commit)
    return env
