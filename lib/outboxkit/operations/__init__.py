"""The operator's view of a running pipeline, and the dependency checks behind /health."""
