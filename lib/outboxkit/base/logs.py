"""How every process of outboxkit logs: its level and format from the settings, what each line is
about (the flow, the trace, the record's key), and the libraries' noise kept down.

``LOG_LEVEL`` is DEBUG, INFO (a service's default), WARNING (a tool's: ``outboxkit cdc``,
``outboxkit replay``...) or ERROR. ``LOG_FORMAT`` is ``text`` (the
default: one readable line, the flow appended while a handler runs) or ``json``: one JSON object a
line (python-json-logger) with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
``service``, and, where there is one, ``trace_id``, ``span_id``, ``correlation_id``,
``causation_id`` and the aggregate ``key``, for a log search to follow one flow or trace.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from outboxkit.base.settings import Settings, SettingsError
from outboxkit.base.tracing import TraceLogFilter

TEXT_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s%(trace)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")


def log_settings(settings: Settings, default_level: str = "INFO") -> tuple[int, str]:
    """LOG_LEVEL and LOG_FORMAT, checked (a SettingsError names a malformed one)."""
    level = settings.get("LOG_LEVEL", default_level).strip().upper()
    if level not in LEVELS:
        raise SettingsError(f"LOG_LEVEL={level!r} is not one of {', '.join(LEVELS)}")
    form = settings.get("LOG_FORMAT", "text").strip().lower()
    if form not in FORMATS:
        raise SettingsError(f"LOG_FORMAT={form!r} is not one of {', '.join(FORMATS)}")
    return getattr(logging, level), form


def formatter(form: str) -> logging.Formatter:
    if form == "json":
        return JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            timestamp="time",
            # %(trace)s is the text format's suffix; the same facts are fields of their own here.
            reserved_attrs=[*RESERVED_ATTRS, "trace"],
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(
    service: str | None = None, settings: Settings | None = None, default_level: str = "INFO"
) -> None:
    """One handler on the root logger, to standard error, in the settings' level and format;
    ``service`` names the process in every JSON line; ``default_level`` when LOG_LEVEL is not set
    (a command line's tools say only warnings unless asked)."""
    level, form = log_settings(settings or Settings.load(), default_level)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceLogFilter(service))
    handler.setFormatter(formatter(form))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The pool logs a traceback for every connection it cannot reset while the database is
    # down; the outage itself is reported once, by whoever met it (outboxkit.consuming.health).
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    # The schema registry client's HTTP library logs every request at INFO.
    for chatty in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
