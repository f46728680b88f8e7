"""The stack's parts. Each is a Component: how to prepare, start and health-check it."""
