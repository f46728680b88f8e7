"""Kubernetes manifests for the pipeline, rendered from this checkout's own sources (the roster,
the connector template, the ACLs, the pinned versions, the benchmark's figures) for the Strimzi
operator, and validated offline: ``stack k8s render`` / ``stack k8s check`` (docs/kubernetes.md)."""
