"""eventcore: the transactional outbox published by Debezium, Avro contracts in a schema
registry, idempotent consumers and sagas, for Python services on a MySQL-compatible database.

The public API is what ``__all__`` lists, importable from ``eventcore`` itself; the fakes a
team's handler tests use are in :mod:`eventcore.testing`; the subpackages' other names are
internal and may change. A service is described by a :class:`ServiceDefinition` and listed in a
roster (:mod:`eventcore.service.roster`); its handlers take a :class:`UnitOfWork` and a typed
:class:`Event`; its aggregates change through guarded transitions and hand their events to the
outbox in the same transaction.

The subpackages are layers, each importing only the ones below it (checked by the import
contract in pyproject.toml and tests/unit/test_import_layers.py):

=====================================  ==========================================================
layer                                  what it holds
=====================================  ==========================================================
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
1 dual write                eventcore.publishing.outbox (OutboxWriter, one transaction)
2 duplicates                eventcore.consuming.guard with eventcore.consuming.inbox
3 out-of-order              eventcore.consuming.guard with eventcore.consuming.version_guard
4 lost / late events        eventcore.dead_letters.queue (DLQ and re-injection)
5 offset commit atomicity   eventcore.consuming.consumer (commit after the DB commit)
6 saga races                eventcore.domain.state_machine, eventcore.sagas (steps, orchestration)
7 key design                eventcore.base.topics, eventcore.kafka.partitioning
8 partial rollouts          eventcore.serialization.avro (reader schemas, BACKWARD rule)
==========================  ==============================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module that defines it: imported on first use, so ``import
# eventcore`` stays cheap and a subpackage importing another never goes through here.
_PUBLIC = {
    # describing and running a service
    "ServiceDefinition": "eventcore.service.definition",
    "Command": "eventcore.service.definition",
    "service_main": "eventcore.cli.service",
    "ServiceContext": "eventcore.service.context",
    "PeriodicJob": "eventcore.service.process",
    "Hop": "eventcore.kafka.lag",
    "UsageError": "eventcore.base.errors",
    "service_definitions": "eventcore.service.roster",
    "Settings": "eventcore.base.settings",
    # writing: one transaction for the domain rows and the outbox rows
    "UnitOfWork": "eventcore.domain.unit_of_work",
    "SqlUnitOfWork": "eventcore.storage.db",
    "MessagingTables": "eventcore.storage.messaging_tables",
    "BatchRows": "eventcore.storage.batch_rows",
    "BatchInserts": "eventcore.storage.batch_rows",
    # events and handlers
    "Event": "eventcore.domain.events",
    "Envelope": "eventcore.domain.events",
    "WithEnvelope": "eventcore.consuming.dispatch",
    "TypedHandler": "eventcore.consuming.dispatch",
    "topic_for": "eventcore.base.topics",
    "commands_for": "eventcore.base.topics",
    # aggregates and sagas
    "Aggregate": "eventcore.domain.aggregate",
    "CompensableStep": "eventcore.sagas.steps",
    "StepLabels": "eventcore.sagas.steps",
    "StepStatus": "eventcore.sagas.steps",
    "compensate": "eventcore.sagas.steps",
    "emit": "eventcore.domain.aggregate",
    "emit_changes": "eventcore.domain.aggregate",
    "save_step": "eventcore.sagas.steps",
    "StepRepository": "eventcore.sagas.steps",
    "StateMachine": "eventcore.domain.state_machine",
    "Orchestration": "eventcore.sagas.orchestration",
    "SagaInstance": "eventcore.sagas.orchestration",
    "Reaction": "eventcore.sagas.orchestration",
    "DEADLINE_PASSED": "eventcore.sagas.orchestration",
    # read models
    "rebuild_read_model": "eventcore.read_models.rebuild",
    "sync_state": "eventcore.read_models.sync",
    "written_for": "eventcore.read_models.sync",
    # values and time
    "bounded_int": "eventcore.base.limits",
    "bounded_text": "eventcore.base.limits",
    "MAX_INT32": "eventcore.base.limits",
    "MAX_INT64": "eventcore.base.limits",
    "utc_now": "eventcore.base.clock",
    "new_id": "eventcore.base.ids",
    "new_flow": "eventcore.base.tracing",
    # errors
    "EventcoreError": "eventcore.base.errors",
    "InvalidValueError": "eventcore.base.errors",
    "NotFoundError": "eventcore.base.errors",
    "SettingsError": "eventcore.base.settings",
    "TransitionRefused": "eventcore.domain.state_machine",
    "RecordRejectedError": "eventcore.base.failures",
    "DependencyUnavailableError": "eventcore.base.failures",
    "VersionNotWrittenError": "eventcore.read_models.sync",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'eventcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from eventcore.base.clock import utc_now as utc_now
    from eventcore.base.errors import (
        EventcoreError as EventcoreError,
        InvalidValueError as InvalidValueError,
        NotFoundError as NotFoundError,
        UsageError as UsageError,
    )
    from eventcore.base.failures import (
        DependencyUnavailableError as DependencyUnavailableError,
        RecordRejectedError as RecordRejectedError,
    )
    from eventcore.base.ids import new_id as new_id
    from eventcore.base.limits import (
        MAX_INT32 as MAX_INT32,
        MAX_INT64 as MAX_INT64,
        bounded_int as bounded_int,
        bounded_text as bounded_text,
    )
    from eventcore.base.settings import Settings as Settings, SettingsError as SettingsError
    from eventcore.base.topics import commands_for as commands_for, topic_for as topic_for
    from eventcore.base.tracing import new_flow as new_flow
    from eventcore.cli.service import service_main as service_main
    from eventcore.consuming.dispatch import TypedHandler as TypedHandler, WithEnvelope as WithEnvelope
    from eventcore.domain.aggregate import Aggregate as Aggregate, emit as emit, emit_changes as emit_changes
    from eventcore.domain.events import Envelope as Envelope, Event as Event
    from eventcore.domain.state_machine import (
        StateMachine as StateMachine,
        TransitionRefused as TransitionRefused,
    )
    from eventcore.domain.unit_of_work import UnitOfWork as UnitOfWork
    from eventcore.kafka.lag import Hop as Hop
    from eventcore.read_models.rebuild import rebuild_read_model as rebuild_read_model
    from eventcore.read_models.sync import (
        VersionNotWrittenError as VersionNotWrittenError,
        sync_state as sync_state,
        written_for as written_for,
    )
    from eventcore.sagas.orchestration import (
        DEADLINE_PASSED as DEADLINE_PASSED,
        Orchestration as Orchestration,
        Reaction as Reaction,
        SagaInstance as SagaInstance,
    )
    from eventcore.sagas.steps import (
        CompensableStep as CompensableStep,
        StepLabels as StepLabels,
        StepRepository as StepRepository,
        StepStatus as StepStatus,
        compensate as compensate,
        save_step as save_step,
    )
    from eventcore.service.context import ServiceContext as ServiceContext
    from eventcore.service.definition import Command as Command, ServiceDefinition as ServiceDefinition
    from eventcore.service.process import PeriodicJob as PeriodicJob
    from eventcore.service.roster import service_definitions as service_definitions
    from eventcore.storage.batch_rows import BatchInserts as BatchInserts, BatchRows as BatchRows
    from eventcore.storage.db import SqlUnitOfWork as SqlUnitOfWork
    from eventcore.storage.messaging_tables import MessagingTables as MessagingTables
