"""Records that cannot be applied: the dead-letter queue, parking behind a key's first
failure, and the operator's tools (list, show, re-inject, purge)."""
