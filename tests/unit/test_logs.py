"""LOG_LEVEL and LOG_FORMAT: the same readable lines by default, one JSON object a line on request,
with what each line is about (service, trace, flow, cause, key)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from outboxkit.base import tracing
from outboxkit.base.logs import configure_logging
from outboxkit.base.settings import Settings, SettingsError
from outboxkit.base.topics import HEADER_CORRELATION_ID, HEADER_TRACEPARENT


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(capsys: pytest.CaptureFixture[str], settings: dict[str, str], default: str = "INFO") -> list[str]:
    configure_logging("inventory-service", Settings(settings), default)
    log = logging.getLogger("services.inventory")
    log.debug("debugging")
    log.info("outside any flow")
    flow = tracing.Trace.start("order-7")
    headers = {HEADER_CORRELATION_ID: "order-7", HEADER_TRACEPARENT: flow.traceparent}
    with tracing.continued_from(headers, "order-7", "event-A", "inventory-service", "OrderCreated"):
        log.warning("reservation order-7 reserved")
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_text_at_info_is_the_default(capsys):
    lines = emit(capsys, {})
    assert len(lines) == 2 and "INFO  services.inventory: outside any flow" in lines[0]
    assert lines[1].endswith(f"[flow order-7 cause event-A trace {tracing.Trace.start('order-7').trace_id}]")


def test_json_lines_carry_service_trace_flow_cause_and_key(capsys):
    lines = [json.loads(line) for line in emit(capsys, {"LOG_FORMAT": "json", "LOG_LEVEL": "debug"})]
    assert [line["message"] for line in lines] == [
        "debugging",
        "outside any flow",
        "reservation order-7 reserved",
    ]
    outside, handled = lines[1], lines[2]
    assert outside["level"] == "INFO" and outside["logger"] == "services.inventory"
    assert outside["service"] == "inventory-service" and "trace_id" not in outside and "time" in outside
    assert handled["level"] == "WARNING"
    assert handled["trace_id"] == tracing.Trace.start("order-7").trace_id
    assert (handled["correlation_id"], handled["causation_id"], handled["key"]) == (
        "order-7",
        "event-A",
        "order-7",
    )
    assert "trace" not in handled  # the text format's suffix stays out of the JSON


def test_a_tools_default_level_is_warning_and_log_level_overrides_it(capsys):
    assert len(emit(capsys, {}, default="WARNING")) == 1
    assert len(emit(capsys, {"LOG_LEVEL": "INFO"}, default="WARNING")) == 2


@pytest.mark.parametrize(
    ("settings", "named"),
    [({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not one of"), ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml'")],
)
def test_a_malformed_setting_is_named(settings, named):
    with pytest.raises(SettingsError, match=named):
        configure_logging("x", Settings(settings))
