"""How every service session is set up on the real server."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from outboxkit.base.settings import Settings
from outboxkit.serialization.avro import SchemaCatalog
from outboxkit.service.context import build_context
from outboxkit.storage.db import SqlUnitOfWork
from services import SCHEMAS
from services.order.tables import metadata as order_metadata

CATALOG = SchemaCatalog.load(SCHEMAS)

pytestmark = pytest.mark.stack

SESSION = text("SELECT @@SESSION.innodb_lock_wait_timeout AS lock_wait, @@SESSION.tx_isolation AS isolation")


def test_service_sessions_read_committed_and_wait_briefly_for_locks(settings: Settings):
    tuned = Settings({**settings.values, "DB_LOCK_WAIT_TIMEOUT_S": "3"})
    for chosen, expected in ((settings, 10), (tuned, 3)):
        engine = build_context("order", order_metadata, SqlUnitOfWork.factory, CATALOG, chosen).engine
        with engine.connect() as connection:
            row = connection.execute(SESSION).one()
        engine.dispose()
        assert (row.lock_wait, row.isolation) == (expected, "READ-COMMITTED")
