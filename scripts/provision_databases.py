#!/usr/bin/env python3
"""Create the databases, users and grants every service of the roster needs.

The command is outboxkit.cli.provision, also installed as ``outboxkit provision-databases``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outboxkit.cli.provision import main

if __name__ == "__main__":
    raise SystemExit(main())
