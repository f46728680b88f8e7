"""outboxkit as a library a team installs: its wheel (lib/: outboxkit and nothing else), installed
into a fresh virtualenv, runs a service that lives in a temporary folder outside the repository
(its own table, schema, unit of work, handler and roster) against the real stack. Its handler is
tested through its in-memory unit of work; its event goes out through its outbox and Debezium and
is applied once."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from devstack.components.mariadb import MariaDbInstance
from outboxkit.base.settings import Settings
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.service import roster
from outboxkit.service.provisioning import provisioning_sql
from outboxkit.service.roster import ROSTER_ENV, SERVER_CONNECTOR, SERVER_CONNECTOR_ENV
from outboxkit.storage.db import make_engine
from services.instances import LOG_DIR
from tests.conftest import ROOT

pytestmark = pytest.mark.stack

ADOPTER_CONNECTOR = "stampbook-outbox"


def readme_service() -> str:
    """The README's own service ("Write your own service"): the code a team is shown is the code
    this test runs."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n", readme.index("## Write your own service")) + len("```python\n")
    return readme[start : readme.index("```", start)]


# The service's handler tested as its team would: through its in-memory unit of work, no stack.
HANDLER_TEST = """
from stampbook.main import HANDLERS, CardStamped, InMemoryStampUnitOfWork

uow = InMemoryStampUnitOfWork()
with uow:
    HANDLERS[CardStamped](uow, CardStamped("card-1", "hello"))
assert uow.stamps.items == {"card-1": "hello"} and uow.commits == 1, uow.stamps.items
print("handler ok")
"""

SCHEMA = """{
  "type": "record", "name": "CardStamped", "namespace": "events.stampcard",
  "fields": [
    {"name": "eventId", "type": "string"},
    {"name": "cardId", "type": "string"},
    {"name": "aggregateVersion", "type": "long"},
    {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "note", "type": "string"}
  ]
}
"""


def run(command: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 600) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build_wheel(source: Path, out: Path, *pip_options: str) -> Path:
    """The wheel pip builds from ``source`` (lib/ or an sdist) into ``out``."""
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *pip_options, "-w", str(out), str(source)],
        dict(os.environ),
        out.parent,
    )
    [wheel] = out.glob("outboxkit-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """The wheel in a fresh virtualenv, and the stamp card service in a folder of its own."""
    work = tmp_path_factory.mktemp("adopter")
    app = work / "app"
    (app / "stampbook" / "schemas" / "stampcard").mkdir(parents=True)
    (app / "stampbook" / "__init__.py").write_text("")
    (app / "stampbook" / "main.py").write_text(readme_service())
    (app / "stampbook" / "roster.py").write_text(
        "def roster():\n    from stampbook.main import SERVICE\n\n    return [SERVICE]\n"
    )
    (app / "stampbook" / "schemas" / "stampcard" / "CardStamped.avsc").write_text(SCHEMA)
    wheel = build_wheel(ROOT / "lib", work / "dist")
    run([sys.executable, "-m", "venv", str(work / "venv")], dict(os.environ), work)
    python = work / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", str(wheel)], dict(os.environ), work)
    env = {
        "PATH": f"{work / 'venv' / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "OUTBOXKIT_ENV_FILE": os.environ.get("OUTBOXKIT_ENV_FILE")
        or str(Path(os.environ.get("STACK_STATE_DIR", str(ROOT / ".state"))) / "stack.env"),
        ROSTER_ENV: "stampbook.roster",
        "PYTHONPATH": str(app),
        "HEALTH_PORT": "0",
        # This Connect cluster already runs the project's connector (the default name, `outbox`).
        SERVER_CONNECTOR_ENV: ADOPTER_CONNECTOR,
    }
    yield python, app, env


def test_the_wheel_holds_outboxkit_alone(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT / "lib", tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert top_level == {"outboxkit"}
    assert "outboxkit/cdc/outbox_connector.json" in names and "outboxkit/py.typed" in names
    scripts = next(n for n in names if n.endswith("entry_points.txt"))
    entry_points = zipfile.ZipFile(wheel).read(scripts).decode()
    assert "outboxkit = outboxkit.cli.main:main" in entry_points
    assert "replay =" not in entry_points and "cdc =" not in entry_points  # one program, no generic names
    assert "services" not in entry_points and "devstack" not in entry_points


def test_the_sdist_builds_the_same_wheel(tmp_path: Path) -> None:
    """The source distribution a team (or an index) builds from holds what the wheel holds."""
    build_sdist = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    name = run([sys.executable, "-c", build_sdist, str(tmp_path / "sdist")], dict(os.environ), ROOT / "lib")
    sdist = tmp_path / "sdist" / name.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    root = sdist.name.removesuffix(".tar.gz")
    assert f"{root}/pyproject.toml" in members and f"{root}/outboxkit/cdc/outbox_connector.json" in members
    assert not [m for m in members if m.startswith((f"{root}/services", f"{root}/devstack", f"{root}/tests"))]
    from_sdist = build_wheel(sdist, tmp_path / "from-sdist", "--no-build-isolation")
    direct = build_wheel(ROOT / "lib", tmp_path / "direct")
    assert from_sdist.name == direct.name
    assert sorted(zipfile.ZipFile(from_sdist).namelist()) == sorted(zipfile.ZipFile(direct).namelist())


def test_an_installed_wheel_runs_a_service_from_outside_the_repository(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    python, app, env = installed
    # The wheel's outboxkit, not the checkout's.
    where = run([str(python), "-c", "import outboxkit; print(outboxkit.__file__)"], env, app)
    assert str(ROOT) not in where and "site-packages" in where
    assert "handler ok" in run([str(python), "-c", HANDLER_TEST], env, app)
    # Its database, user and heartbeat table, as `stack up` provisions a roster's.
    sys.path.insert(0, str(app))
    try:
        definitions = roster.service_definitions("stampbook.roster")
        assert [d.name for d in definitions] == ["stampcard"]
        MariaDbInstance().run_sql(provisioning_sql(Settings.load(), definitions))
    finally:
        sys.path.remove(str(app))
        roster.service_definitions.cache_clear()
        for module in [m for m in sys.modules if m.startswith("stampbook")]:
            del sys.modules[module]
    run([str(python), "-m", "stampbook.main", "migrate"], env, app)
    register = [str(app.parent / "venv" / "bin" / "outboxkit"), "register-connectors"]
    connect = ConnectClient(Settings.load().connect_url)
    # Under the project's connector name, it would take the project's outboxes away: refused.
    project_tables = connect.config(SERVER_CONNECTOR)["table.include.list"]
    refused = subprocess.run(
        register,
        env={**env, SERVER_CONNECTOR_ENV: SERVER_CONNECTOR},
        cwd=app,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "which this roster does not publish" in refused.stderr and "order_db.outbox" in refused.stderr
    assert connect.config(SERVER_CONNECTOR)["table.include.list"] == project_tables
    run(register, env, app)
    log = (LOG_DIR / "library-wheel-stampcard.log").open("wb")
    service = subprocess.Popen(
        [str(python), "-m", "stampbook.main", "run"], env=env, cwd=app, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        card = f"card-{time.time_ns()}"
        assert f"stamped {card}" in run(
            [str(python), "-m", "stampbook.main", "stamp", card, "first"], env, app
        )
        settings = Settings.load()
        engine = make_engine(settings.db_url("stampcard"))
        deadline = time.monotonic() + 90
        with engine.connect() as connection:
            while True:
                connection.rollback()
                stamps = connection.execute(
                    text("SELECT note FROM stamps WHERE card_id = :c"), {"c": card}
                ).all()
                receipts = connection.execute(
                    text(
                        "SELECT COUNT(*) FROM inbox WHERE aggregate_id = :c "
                        "AND consumer_group = 'stampcard-service'"
                    ),
                    {"c": card},
                ).scalar_one()
                if stamps or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        engine.dispose()
        assert [s.note for s in stamps] == ["first"], f"not applied within 90 s; see {log.name}"
        assert receipts == 1
    finally:
        service.terminate()
        service.wait(60)
        log.close()
        # Its offsets go too: a later run (after a test purged the binlog) must not resume there.
        connect.stop(ADOPTER_CONNECTOR)
        connect.wait_for_state(ADOPTER_CONNECTOR, "STOPPED")
        connect.reset_offsets(ADOPTER_CONNECTOR)
        connect.delete(ADOPTER_CONNECTOR)
