"""The domain's building blocks, free of I/O: typed events, aggregates and their guarded state
machines, and the unit of work a handler is given."""
