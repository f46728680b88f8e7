"""Read models: read-your-writes sync state, and rebuilding a model from its topics."""
