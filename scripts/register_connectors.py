#!/usr/bin/env python3
"""Create or update the Debezium outbox connectors and wait until they run.

The command is outboxkit.cli.connectors, also installed as ``outboxkit register-connectors``."""

from outboxkit.cli.connectors import main

if __name__ == "__main__":
    raise SystemExit(main())
