#!/usr/bin/env python3
"""Create the databases, users and grants every service of the roster needs.

The command is outboxkit.cli.provision, also installed as ``outboxkit provision-databases``."""

from outboxkit.cli.provision import main

if __name__ == "__main__":
    raise SystemExit(main())
