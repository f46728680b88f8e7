#!/usr/bin/env python3
"""Create the databases, users and grants every service of the roster needs: ``outboxkit
provision-databases``, under the name this repository's docs have always used."""

from outboxkit.cli.main import run_command

if __name__ == "__main__":
    raise SystemExit(run_command("provision-databases"))
