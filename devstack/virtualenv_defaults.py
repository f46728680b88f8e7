"""What this checkout's virtualenv tells outboxkit, for every process it runs.

outboxkit reads its settings from the environment and from the env file ``OUTBOXKIT_ENV_FILE``
names, and the services from the roster module ``OUTBOXKIT_ROSTER`` names; it looks for neither
anywhere else. ``./run`` installs a ``.pth`` file in ``.venv`` that imports this module when an
interpreter starts, so that ``.venv/bin/outboxkit cdc status``, the services and the scripts of
this checkout read the native stack's ``stack.env`` (``stack up`` writes it in the state
directory) and this repository's roster, unless the environment names others.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from devstack.config import default_state_dir

ENV_FILE_VARIABLE = "OUTBOXKIT_ENV_FILE"
ROSTER_VARIABLE = "OUTBOXKIT_ROSTER"
# This repository's services: services/__init__.py's roster().
ROSTER_MODULE = "services"
# What ./run writes into the virtualenv's site-packages (after the editable installs' own .pth
# files, which sort first, so that devstack is importable by then).
PTH_FILE = "outbox_cdc_dev_defaults.pth"
PTH_LINE = "import devstack.virtualenv_defaults\n"


def apply_defaults(environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """Name the stack's env file and the roster, where the environment names neither."""
    if not environ.get(ENV_FILE_VARIABLE):
        environ[ENV_FILE_VARIABLE] = str(default_state_dir() / "stack.env")
    if not environ.get(ROSTER_VARIABLE):
        environ[ROSTER_VARIABLE] = ROSTER_MODULE


def install() -> Path:
    """Write the .pth file into this interpreter's site-packages (idempotent)."""
    (folder,) = (Path(p) for p in site.getsitepackages() if Path(p).name == "site-packages")
    pth = folder / PTH_FILE
    if not pth.is_file() or pth.read_text() != PTH_LINE:
        pth.write_text(PTH_LINE)
    return pth


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    install()
else:
    apply_defaults()
