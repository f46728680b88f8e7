#!/usr/bin/env python3
"""Create or update the Debezium outbox connectors and wait until they run: ``outboxkit
register-connectors``, under the name this repository's docs and tests have always used."""

from outboxkit.cli.main import run_command

if __name__ == "__main__":
    raise SystemExit(run_command("register-connectors"))
