"""``python -m devstack`` is the same as the ``stack`` command."""

import sys

from devstack.cli import main

sys.exit(main())
