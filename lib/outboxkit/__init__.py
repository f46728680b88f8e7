"""outboxkit: the transactional outbox published by Debezium, Avro contracts in a schema
registry, idempotent consumers and sagas, for Python services on a MySQL-compatible database.

The public API is what ``__all__`` lists, importable from ``outboxkit`` itself; the fakes a
team's handler tests use are in :mod:`outboxkit.testing`, what the tools around the services
use (roster queries, Kafka clients, CDC status, the operations page, traces) in
:mod:`outboxkit.ops`, and the command-line conventions in :mod:`outboxkit.cli`; every other
module is internal and may change. A service is described by a :class:`ServiceDefinition` and listed in a
roster (:mod:`outboxkit.service.roster`); its handlers take a :class:`UnitOfWork` and a typed
:class:`Event`; its aggregates change through guarded transitions and hand their events to the
outbox in the same transaction.

The subpackages are layers, each importing only the ones below it (checked by the import
contract in pyproject.toml and tests/unit/test_import_layers.py):

=====================================  ==========================================================
layer                                  what it holds
=====================================  ==========================================================
ops                                    the public names the tools around a service use
cli, testing                           the command lines; the fakes for a team's tests
service                                ServiceDefinition, its context and process, the roster
operations, read_models                the operator's view, topic resizing; read-model sync
consuming, cdc, sagas                  the consumer runtime and guard; CDC health; saga support
publishing, dead_letters               the outbox writer; the dead-letter queue and its tools
kafka, storage                         the Kafka and database adapters
serialization                          Avro and the schema registry
domain                                 events, aggregates, state machines, the unit of work
base                                   errors, settings, names, messages, failures, tracing
=====================================  ==========================================================

Where each problem of the design is handled:

==========================  ==============================================
problem                     module
==========================  ==============================================
1 dual write                outboxkit.publishing.outbox (OutboxWriter, one transaction)
2 duplicates                outboxkit.consuming.guard with outboxkit.consuming.inbox
3 out-of-order              outboxkit.consuming.guard with outboxkit.consuming.version_guard
4 lost / late events        outboxkit.dead_letters.queue (DLQ and re-injection)
5 offset commit atomicity   outboxkit.consuming.consumer (commit after the DB commit)
6 saga races                outboxkit.domain.state_machine, outboxkit.sagas (steps, orchestration)
7 key design                outboxkit.base.topics, outboxkit.kafka.partitioning
8 partial rollouts          outboxkit.serialization.avro (reader schemas, BACKWARD rule)
==========================  ==============================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module that defines it: imported on first use, so ``import
# outboxkit`` stays cheap and a subpackage importing another never goes through here.
_PUBLIC = {
    # describing and running a service
    "ServiceDefinition": "outboxkit.service.definition",
    "Command": "outboxkit.service.definition",
    "service_main": "outboxkit.cli.service",
    "ServiceContext": "outboxkit.service.context",
    "ApplyHooks": "outboxkit.consuming.apply_hooks",
    "PeriodicJob": "outboxkit.service.process",
    "Hop": "outboxkit.kafka.lag",
    "UsageError": "outboxkit.base.errors",
    "service_definitions": "outboxkit.service.roster",
    "Settings": "outboxkit.base.settings",
    # writing: one transaction for the domain rows and the outbox rows
    "UnitOfWork": "outboxkit.domain.unit_of_work",
    "SqlUnitOfWork": "outboxkit.storage.db",
    "MessagingTables": "outboxkit.storage.messaging_tables",
    "BatchRows": "outboxkit.storage.batch_rows",
    "BatchInserts": "outboxkit.storage.batch_rows",
    "OutboxRows": "outboxkit.storage.db",
    "insert_of": "outboxkit.storage.db",
    # requests that may come twice: one response per Idempotency-Key
    "IdempotencyKeys": "outboxkit.storage.idempotency",
    "idempotency_keys_table": "outboxkit.storage.idempotency",
    "valid_key": "outboxkit.storage.idempotency",
    "StoredResponse": "outboxkit.storage.idempotency",
    "Remember": "outboxkit.storage.idempotency",
    "InvalidIdempotencyKeyError": "outboxkit.storage.idempotency",
    "KeyReusedError": "outboxkit.storage.idempotency",
    # events and handlers
    "Event": "outboxkit.domain.events",
    "Envelope": "outboxkit.domain.events",
    "WithEnvelope": "outboxkit.consuming.dispatch",
    "TypedHandler": "outboxkit.consuming.dispatch",
    "topic_for": "outboxkit.base.topics",
    "commands_for": "outboxkit.base.topics",
    # aggregates and sagas
    "Aggregate": "outboxkit.domain.aggregate",
    "CompensableStep": "outboxkit.sagas.steps",
    "StepLabels": "outboxkit.sagas.steps",
    "StepStatus": "outboxkit.sagas.steps",
    "compensate": "outboxkit.sagas.steps",
    "emit": "outboxkit.domain.aggregate",
    "emit_changes": "outboxkit.domain.aggregate",
    "save_step": "outboxkit.sagas.steps",
    "StepRepository": "outboxkit.sagas.steps",
    "StateMachine": "outboxkit.domain.state_machine",
    "Orchestration": "outboxkit.sagas.orchestration",
    "SagaInstance": "outboxkit.sagas.orchestration",
    "Reaction": "outboxkit.sagas.orchestration",
    "DEADLINE_PASSED": "outboxkit.sagas.orchestration",
    # read models
    "rebuild_read_model": "outboxkit.read_models.rebuild",
    "sync_state": "outboxkit.read_models.sync",
    "written_for": "outboxkit.read_models.sync",
    # values and time
    "bounded_int": "outboxkit.base.limits",
    "bounded_text": "outboxkit.base.limits",
    "MAX_INT32": "outboxkit.base.limits",
    "MAX_INT64": "outboxkit.base.limits",
    "utc_now": "outboxkit.base.clock",
    "new_id": "outboxkit.base.ids",
    "new_flow": "outboxkit.base.tracing",
    # errors
    "OutboxKitError": "outboxkit.base.errors",
    "InvalidValueError": "outboxkit.base.errors",
    "NotFoundError": "outboxkit.base.errors",
    "SettingsError": "outboxkit.base.settings",
    "TransitionRefused": "outboxkit.domain.state_machine",
    "RecordRejectedError": "outboxkit.base.failures",
    "DependencyUnavailableError": "outboxkit.base.failures",
    "VersionNotWrittenError": "outboxkit.read_models.sync",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'outboxkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from outboxkit.base.clock import utc_now as utc_now
    from outboxkit.base.errors import (
        InvalidValueError as InvalidValueError,
        NotFoundError as NotFoundError,
        OutboxKitError as OutboxKitError,
        UsageError as UsageError,
    )
    from outboxkit.base.failures import (
        DependencyUnavailableError as DependencyUnavailableError,
        RecordRejectedError as RecordRejectedError,
    )
    from outboxkit.base.ids import new_id as new_id
    from outboxkit.base.limits import (
        MAX_INT32 as MAX_INT32,
        MAX_INT64 as MAX_INT64,
        bounded_int as bounded_int,
        bounded_text as bounded_text,
    )
    from outboxkit.base.settings import Settings as Settings, SettingsError as SettingsError
    from outboxkit.base.topics import commands_for as commands_for, topic_for as topic_for
    from outboxkit.base.tracing import new_flow as new_flow
    from outboxkit.cli.service import service_main as service_main
    from outboxkit.consuming.apply_hooks import ApplyHooks as ApplyHooks
    from outboxkit.consuming.dispatch import TypedHandler as TypedHandler, WithEnvelope as WithEnvelope
    from outboxkit.domain.aggregate import Aggregate as Aggregate, emit as emit, emit_changes as emit_changes
    from outboxkit.domain.events import Envelope as Envelope, Event as Event
    from outboxkit.domain.state_machine import (
        StateMachine as StateMachine,
        TransitionRefused as TransitionRefused,
    )
    from outboxkit.domain.unit_of_work import UnitOfWork as UnitOfWork
    from outboxkit.kafka.lag import Hop as Hop
    from outboxkit.read_models.rebuild import rebuild_read_model as rebuild_read_model
    from outboxkit.read_models.sync import (
        VersionNotWrittenError as VersionNotWrittenError,
        sync_state as sync_state,
        written_for as written_for,
    )
    from outboxkit.sagas.orchestration import (
        DEADLINE_PASSED as DEADLINE_PASSED,
        Orchestration as Orchestration,
        Reaction as Reaction,
        SagaInstance as SagaInstance,
    )
    from outboxkit.sagas.steps import (
        CompensableStep as CompensableStep,
        StepLabels as StepLabels,
        StepRepository as StepRepository,
        StepStatus as StepStatus,
        compensate as compensate,
        save_step as save_step,
    )
    from outboxkit.service.context import ServiceContext as ServiceContext
    from outboxkit.service.definition import Command as Command, ServiceDefinition as ServiceDefinition
    from outboxkit.service.process import PeriodicJob as PeriodicJob
    from outboxkit.service.roster import service_definitions as service_definitions
    from outboxkit.storage.batch_rows import BatchInserts as BatchInserts, BatchRows as BatchRows
    from outboxkit.storage.db import (
        OutboxRows as OutboxRows,
        SqlUnitOfWork as SqlUnitOfWork,
        insert_of as insert_of,
    )
    from outboxkit.storage.idempotency import (
        IdempotencyKeys as IdempotencyKeys,
        InvalidIdempotencyKeyError as InvalidIdempotencyKeyError,
        KeyReusedError as KeyReusedError,
        Remember as Remember,
        StoredResponse as StoredResponse,
        idempotency_keys_table as idempotency_keys_table,
        valid_key as valid_key,
    )
    from outboxkit.storage.messaging_tables import MessagingTables as MessagingTables
