"""How every process of eventcore logs: one format, the trace of the handler running in each
line, and the libraries' noise kept down."""

from __future__ import annotations

import logging

from eventcore.base.tracing import TraceLogFilter

LOG_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s%(trace)s"


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceLogFilter())
    # The pool logs a traceback for every connection it cannot reset while the database is
    # down; the outage itself is reported once, by whoever met it (eventcore.consuming.health).
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
