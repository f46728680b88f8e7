"""Failure drills: SIGKILL the process at the two moments that hurt exactly-once the most.

Off unless set (``CONSUMER_CRASH_AFTER_COMMITS=N`` / ``CONSUMER_CRASH_BEFORE_COMMIT=N``); the e2e
tests use them to prove that a crash there neither loses nor doubles an effect:

- after the Nth handler transaction commits, before its offset is stored: the record comes
  again and must not apply twice;
- when the Nth handler has run but its transaction has not committed: everything the handler
  wrote is rolled back, while calls it made to the outside world have happened.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass

log = logging.getLogger(__name__)


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
