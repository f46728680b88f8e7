"""Adapter for the external payment gateway, and a simulated one standing in for it.

The gateway is called with the orderId as its idempotency key: asking twice for the same key
returns the first answer and never charges twice (real gateways offer the same contract).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from outboxkit import DependencyUnavailableError, RecordRejectedError


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str | None
    reason: str | None = None


class PaymentGateway(Protocol):
    def charge(self, idempotency_key: str, amount_cents: int, currency: str) -> ChargeResult: ...

    def refund(self, idempotency_key: str, reference: str, amount_cents: int) -> str: ...


@dataclass(frozen=True)
class LedgerEntry:
    """What the simulated gateway remembers about one idempotency key."""

    result: ChargeResult
    amount_cents: int
    currency: str
    calls: int


class IdempotencyKeyReusedError(RecordRejectedError):
    """The same idempotency key came back with another amount: a bug, never a retry."""


class LedgerUnavailableError(RuntimeError):
    """The ledger file cannot be created or opened."""


class ChargeLedger:
    """The simulated gateway's own memory, in a SQLite file outside the service's database.

    A real gateway keeps its idempotency keys on its side: a charge it made survives a crash
    of the caller before the caller's commit. Keeping the ledger in the payment service's
    process (or its transaction) would forget exactly that charge, so it lives in a file that
    every payment instance shares. ``":memory:"`` keeps it in the process, for unit tests.
    """

    def __init__(self, path: Path | str) -> None:
        try:
            self._db = self._open(str(path))
        except (OSError, sqlite3.Error) as exc:
            raise LedgerUnavailableError(f"cannot open the payment gateway ledger {path}: {exc}") from exc
        self._lock = threading.Lock()

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE takes the write lock
        # up front, so two instances cannot both decide a new key).
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        db.execute(
            "CREATE TABLE IF NOT EXISTS charges (idempotency_key TEXT PRIMARY KEY, approved INTEGER,"
            " reference TEXT, reason TEXT, amount_cents INTEGER, currency TEXT, calls INTEGER)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS refunds (idempotency_key TEXT PRIMARY KEY, reference TEXT,"
            " charge_reference TEXT, amount_cents INTEGER, calls INTEGER)"
        )
        return db

    def lookup(self, key: str) -> LedgerEntry | None:
        with self._lock:
            return self._lookup(key)

    def refund_calls(self, key: str) -> int:
        """How many times a refund was asked for under ``key`` (it is made on the first)."""
        with self._lock:
            row = self._db.execute("SELECT calls FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def refund_reference(self, key: str) -> str | None:
        """The refund made under ``key``, if any (the gateway's own record of it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT reference FROM refunds WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def _lookup(self, key: str) -> LedgerEntry | None:
        row = self._db.execute(
            "SELECT approved, reference, reason, amount_cents, currency, calls FROM charges"
            " WHERE idempotency_key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return LedgerEntry(ChargeResult(bool(row[0]), row[1], row[2]), row[3], row[4], row[5])

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its start.

        A ledger that stays locked or cannot be written stands for a gateway that does not
        answer: the payment is tried again once it does, never dead-lettered.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise DependencyUnavailableError("payment gateway", f"ledger: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._db.execute("ROLLBACK")
                raise DependencyUnavailableError("payment gateway", f"ledger: {exc}") from exc

    def charge_once(
        self, key: str, amount_cents: int, currency: str, decide: Callable[[], ChargeResult]
    ) -> LedgerEntry:
        """The first answer for ``key``, deciding it with ``decide`` only if there is none."""
        with self._write() as db:
            known = self._lookup(key)
            if known is None:
                result = decide()
                db.execute(
                    "INSERT INTO charges VALUES (?, ?, ?, ?, ?, ?, 1)",
                    (key, int(result.approved), result.reference, result.reason, amount_cents, currency),
                )
            elif (known.amount_cents, known.currency) != (amount_cents, currency):
                raise IdempotencyKeyReusedError(
                    f"idempotency key {key} was charged {known.amount_cents} {known.currency}, "
                    f"now asked for {amount_cents} {currency}"
                )
            else:
                db.execute("UPDATE charges SET calls = calls + 1 WHERE idempotency_key = ?", (key,))
            entry = self._lookup(key)
        assert entry is not None
        return entry

    def refund_once(self, key: str, charge_reference: str, amount_cents: int) -> str:
        with self._write() as db:
            db.execute(
                "INSERT INTO refunds VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
                (key, f"refund-{uuid.uuid4()}", charge_reference, amount_cents),
            )
            db.execute("UPDATE refunds SET calls = calls + 1 WHERE idempotency_key = ?", (key,))
            reference = db.execute(
                "SELECT reference FROM refunds WHERE idempotency_key = ?", (key,)
            ).fetchone()[0]
        return str(reference)


class SimulatedGateway:
    """Declines a configurable share of charges (decided by the key, so retries agree) and
    every charge above ``limit_cents``; waits ``latency_s`` per call like a remote system.
    Remembers every key in ``ledger``: a repeated key gets the first answer, never a new charge."""

    def __init__(
        self,
        decline_rate: float = 0.0,
        latency_s: float = 0.0,
        limit_cents: int = 10_000_000,
        ledger: ChargeLedger | None = None,
    ) -> None:
        if not 0.0 <= decline_rate <= 1.0:
            raise ValueError(f"decline rate must be between 0 and 1, got {decline_rate}")
        self.decline_rate = decline_rate
        self.latency_s = latency_s
        self.limit_cents = limit_cents
        self.ledger = ledger or ChargeLedger(":memory:")

    def _declined_by_chance(self, key: str) -> bool:
        bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
        return bucket < self.decline_rate

    def _decide(self, key: str, amount_cents: int, currency: str) -> ChargeResult:
        if amount_cents > self.limit_cents:
            return ChargeResult(
                False, None, f"amount {amount_cents} {currency} over the card limit of {self.limit_cents}"
            )
        if self._declined_by_chance(key):
            return ChargeResult(False, None, "declined by issuer")
        return ChargeResult(True, f"pay-{uuid.uuid4()}")

    def charge(self, idempotency_key: str, amount_cents: int, currency: str) -> ChargeResult:
        time.sleep(self.latency_s)
        entry = self.ledger.charge_once(
            idempotency_key,
            amount_cents,
            currency,
            lambda: self._decide(idempotency_key, amount_cents, currency),
        )
        return entry.result

    def refund(self, idempotency_key: str, reference: str, amount_cents: int) -> str:
        time.sleep(self.latency_s)
        return self.ledger.refund_once(idempotency_key, reference, amount_cents)
