"""A service as a team describes and runs it: its definition, its wired context, its consumer
process with its periodic jobs (pruning), the roster that lists every service, and what the
roster derives (databases and users, Kafka ACLs)."""
