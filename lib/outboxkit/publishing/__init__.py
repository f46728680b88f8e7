"""Writing events: the transactional outbox and the trace every event carries."""
