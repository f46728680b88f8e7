"""What every other part of outboxkit stands on, importing nothing of them: errors, settings,
time and ids, the names of topics and headers, the two message shapes, failure classification
and the trace context."""
