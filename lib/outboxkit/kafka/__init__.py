"""Kafka: client configurations, topics and keys, partitioning, cluster pre-flight checks,
reading topics (replay) and how far behind a flow's consumers are."""
