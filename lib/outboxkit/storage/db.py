"""Database adapter: engines and the SQL unit of work that owns each transaction."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Callable, Hashable, Iterator
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import Connection, Engine, Insert, MetaData, Table, create_engine, event, inspect, text
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.schema import CreateColumn

from outboxkit.base import tracing
from outboxkit.base.messages import OutboxEvent
from outboxkit.domain.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DUPLICATE_KEY_ERROR = 1062


def is_duplicate_key(exc: IntegrityError) -> bool:
    """The statement failed on a primary or unique key: the row is there already."""
    return bool(exc.orig is not None and exc.orig.args and exc.orig.args[0] == DUPLICATE_KEY_ERROR)


class OutboxRows(Protocol):
    """What a unit of work needs of the outbox writer (:class:`outboxkit.publishing.outbox.OutboxWriter`):
    an event's row, encoded (and so checked) when it is emitted, and the rows written at the commit."""

    def row(self, event: OutboxEvent) -> dict[str, Any]: ...

    def write(self, connection: Connection, rows: list[dict[str, Any]]) -> None: ...


class WiredService(Protocol):
    """Where a service's transactions come from: its engine and its outbox (a ServiceContext)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def outbox(self) -> OutboxRows: ...


# A pooled connection idle longer than this is pinged before use (one that was just used is not:
# on the hot path a ping per transaction was a round trip, and a server command, of its own).
PING_AFTER_IDLE_S = 1.0
# Marks a pooled connection whose last transaction ended in a commit: nothing to roll back.
_COMMITTED = "outboxkit.committed"


def make_engine(url: str, pool_size: int = 5, lock_wait_timeout_s: int | None = None) -> Engine:
    """A SQLAlchemy engine on ``url`` at READ COMMITTED, ``pool_size`` connections, and a lock
    wait of ``lock_wait_timeout_s`` seconds when given."""
    # READ COMMITTED keeps gap locks out of concurrent inserts into the same tables. A short lock
    # wait turns a blocked row into a quick, retryable error (1205) instead of the server's 50 s
    # stall.
    connect_args = {}
    if lock_wait_timeout_s is not None:
        if lock_wait_timeout_s < 1:
            raise ValueError(f"lock wait timeout must be at least 1 s, not {lock_wait_timeout_s}")
        connect_args["init_command"] = f"SET SESSION innodb_lock_wait_timeout = {int(lock_wait_timeout_s)}"
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        # Both done below, each only when it is needed.
        pool_pre_ping=False,
        pool_reset_on_return=None,
        isolation_level="READ COMMITTED",
        connect_args=connect_args,
    )
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def ping_when_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """A connection that sat in the pool for a while may have been closed by the server (a
        restart, a timeout): pinged, and replaced if it is gone."""
        if time.monotonic() - record.info.get("checked_in_at", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"pooled connection gone: {exc}") from exc

    @event.listens_for(engine, "reset")
    def roll_back_unless_committed(dbapi_connection: Any, record: Any, reset: Any) -> None:
        """A connection back in the pool leaves no transaction open; one whose unit of work
        committed has none left, and no ROLLBACK round trip is spent on it."""
        record.info["checked_in_at"] = time.monotonic()
        if record.info.pop(_COMMITTED, False) or reset.terminate_only:
            return
        if not reset.transaction_was_reset:
            dbapi_connection.rollback()

    return engine


@functools.cache
def insert_of(table: Table) -> Insert:
    """``table``'s plain INSERT, built once: executed with a list of rows it is one multi-row
    insert. The hot path's statements are built once per table (here and next to their queries):
    building and keying a statement on every call cost more of a service's time than executing it
    (bench_saga.py, profiled)."""
    return table.insert()


def create_tables(engine: Engine, metadata: MetaData) -> None:
    """Create missing tables, and add the columns and indexes a newer version declares to
    existing ones."""
    metadata.create_all(engine)
    added = add_missing_parts(engine, metadata)
    if added:
        log.info("columns and indexes added in %s: %s", engine.url.database, ", ".join(added))
    log.info("tables ready in %s: %s", engine.url.database, ", ".join(sorted(metadata.tables)))


def add_missing_parts(engine: Engine, metadata: MetaData) -> list[str]:
    """``ADD COLUMN`` / ``CREATE INDEX`` for each declared column or index an existing table lacks
    (``create_all`` leaves existing tables alone).

    Only for additions that need no data: such columns are declared nullable (or with a
    server default). Anything else (a changed type, a dropped column) is a real migration.
    """
    added = []
    with engine.begin() as connection:
        inspector = inspect(connection)
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in columns:
                    ddl = CreateColumn(column).compile(dialect=engine.dialect)
                    connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
                    added.append(f"{table.name}.{column.name}")
            indexes = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    index.create(connection)
                    added.append(f"{table.name}.{index.name}")
    return added


class Flushable(Protocol):
    def flush(self, connection: Connection) -> None: ...


T = TypeVar("T", bound=Flushable)


class SqlUnitOfWork(UnitOfWork):
    """One local transaction: domain rows and outbox rows commit together or not at all.

    Use as ``with SqlUnitOfWork(engine, outbox) as uow: ...``; ``uow.connection`` runs the
    statements and ``uow.emit(event)`` adds an outbox row. Leaving the block commits; an
    exception rolls everything back, outbox rows included.

    ``emit`` encodes the event at once (a payload the registry or its schema refuses stops the
    work before anything is written) and the rows are inserted together just before the
    commit: one statement for every event of the transaction, in the order they were emitted.

    ``batch`` is what the transaction applies (the consumer sets it: a fetch's records, or one
    record); repositories read the rows of all of them at once and keep their writes in a
    :meth:`staged` object, written just before the outbox rows (:mod:`outboxkit.storage.batch_rows`).

    A service subclasses it to put its SQL repositories on it (and whatever else its handlers
    reach through the unit of work), next to an in-memory twin for its handler tests
    (:class:`outboxkit.testing.InMemoryUnitOfWork`).
    """

    def __init__(self, engine: Engine, outbox: OutboxRows | None = None) -> None:
        self._engine = engine
        self._outbox = outbox
        self._connection: Connection | None = None
        self._pending: list[dict[str, Any]] = []
        self._staged: dict[Hashable, Flushable] = {}
        self._span: contextlib.ExitStack | None = None
        self._database = engine.url.database or ""
        self.batch = ()

    @classmethod
    def factory(cls, context: WiredService) -> Callable[[], Self]:
        """How a service of this unit of work opens a transaction (``ServiceDefinition.unit_of_work``)."""
        return lambda: cls(context.engine, context.outbox)

    def staged(self, name: Hashable, factory: Callable[[], T]) -> T:
        """The transaction's one ``name`` object (made by ``factory`` on first use); its
        ``flush(connection)`` runs before the commit, in the order the objects were made."""
        self.connection  # noqa: B018 (raises outside a with block)
        if name not in self._staged:
            self._staged[name] = factory()
        staged = self._staged[name]
        return staged  # type: ignore[return-value]

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open: use it in a with block")
        return self._connection

    def emit(self, event: OutboxEvent) -> None:
        if self._outbox is None:
            raise RuntimeError("this unit of work has no outbox writer")
        self.connection  # noqa: B018 (raises outside a with block)
        self._pending.append(self._outbox.row(event))

    def __enter__(self) -> Self:
        if tracing.enabled():  # the transaction is a span of the request, command or apply it runs in
            self._span = contextlib.ExitStack()
            self._span.enter_context(tracing.child_span("transaction", {"db.namespace": self._database}))
        try:
            self._connection = self._engine.connect()
            self._connection.begin()
        except BaseException as exc:
            self._end_span(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _end_span(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._span is not None:
            self._span.__exit__(exc_type, exc, tb)
            self._span = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        try:
            if exc_type is None:
                for staged in self._staged.values():
                    staged.flush(self._connection)
                if self._pending:
                    assert self._outbox is not None
                    self._outbox.write(self._connection, self._pending)
                self._connection.commit()
                # The pool need not roll back what has just been committed.
                self._connection.info[_COMMITTED] = True
            else:
                self._connection.rollback()
        finally:
            self._pending = []
            self._staged = {}
            self.batch = ()
            self._connection.close()
            self._connection = None
            self._end_span(exc_type, exc, tb)


def paced_batches(max_batches: int | None = None, rest_ratio: float = 0.0) -> Iterator[int]:
    """The turns of a loop of batch statements: at most ``max_batches``, and before each next one a
    rest ``rest_ratio`` times as long as the last one took. A background job (pruning) then leaves
    the database to the hot path between its batches: a backlog of millions of rows deleted back
    to back tripled the saga's p99 (bench_saga.py --history)."""
    for turn in range(max_batches) if max_batches else itertools.count():
        started = time.monotonic()
        yield turn
        if rest_ratio:
            time.sleep((time.monotonic() - started) * rest_ratio)
