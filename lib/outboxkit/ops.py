"""What the tools around a team's services use: the programs that start, watch, benchmark and
operate them, and an operator's page. Public like :mod:`outboxkit` itself (documented in the API
reference and kept compatible); the service-writing API is :mod:`outboxkit`, the fakes for
handler tests :mod:`outboxkit.testing` and the command-line conventions :mod:`outboxkit.cli`.

=====================================  ==========================================================
for                                    names
=====================================  ==========================================================
the roster                             service_named, publishing_services, outbox_connectors,
                                       connector_for, flow_topics, schema_catalog
provisioning and access                provisioning_sql, kafka_principals, kafka_grants,
                                       access_roster, ADMIN_PRINCIPAL, CONNECT_PRINCIPAL,
                                       CONNECT_GROUP
deploying the connectors and topics    ConnectorDeployment, connector_config,
                                       connect_kafka_login, routed_topics, roster_services,
                                       dead_letter_topic_for, DEAD_LETTER_TOPIC_CONFIG,
                                       DEFAULT_PARTITIONS, db_password_key,
                                       OFFSETS_SEGMENT_MS
Kafka                                  admin_client, consumer_config, producer_config,
                                       ensure_topics, password_key, CommittedOffsets, Record,
                                       decode_record, PipelineLag, group_lag
records and their wire format          ConsumedEvent, OutboxEvent, AvroEventSerializer,
                                       AvroEventDeserializer, SchemaRegistryClient, EventRoutes,
                                       RecordApplier, SqlGuardTables, retry_topic_for, headers
reading topics                         EventTap, format_event
CDC                                    ConnectClient, ConnectorReport, report_connectors,
                                       print_reports, verify_publication, database_of,
                                       heartbeat_topic, CdcCollector
the operations page                    OperationsView, OperatedGroup, DeadLetterSelectionError,
                                       check_database, check_kafka, check_registry,
                                       check_connectors, run_checks
the database                           make_engine, create_tables, read_env_file
traces                                 Trace, DEFAULT_OTLP_ENDPOINT, configure_tracing,
                                       tracing_enabled, flush_traces, server_span, child_span,
                                       apply_span, continued_from, trace_for_new_event
=====================================  ==========================================================
"""

from __future__ import annotations

from outboxkit.base.messages import ConsumedEvent, OutboxEvent
from outboxkit.base.settings import db_password_key, read_env_file
from outboxkit.base.topics import (
    DEFAULT_PARTITIONS,
    HEADER_CORRELATION_ID,
    HEADER_TRACEPARENT,
    dead_letter_topic_for,
    retry_topic_for,
)
from outboxkit.base.tracing import (
    DEFAULT_OTLP_ENDPOINT,
    Trace,
    apply_span,
    child_span,
    configure_tracing,
    continued_from,
    enabled as tracing_enabled,
    flush as flush_traces,
    for_new_event as trace_for_new_event,
    server_span,
)
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.cdc.connectors import (
    Deployment as ConnectorDeployment,
    connect_kafka_login,
    effective_config as connector_config,
    routed_topics,
)
from outboxkit.cdc.offsets import OFFSETS_SEGMENT_MS
from outboxkit.cdc.progress import heartbeat_topic
from outboxkit.cdc.recovery import database_of
from outboxkit.cdc.status import ConnectorReport, report_connectors
from outboxkit.cdc.verify import verify_publication
from outboxkit.cli.cdc import print_reports
from outboxkit.consuming.applier import RecordApplier
from outboxkit.consuming.consumer import DLQ_TOPIC_CONFIG as DEAD_LETTER_TOPIC_CONFIG
from outboxkit.consuming.dispatch import EventRoutes
from outboxkit.consuming.guard import SqlGuardTables
from outboxkit.consuming.metrics import CdcCollector
from outboxkit.dead_letters.tools import DeadLetterSelectionError
from outboxkit.kafka.clients import (
    CommittedOffsets,
    admin_client,
    consumer_config,
    ensure_topics,
    password_key,
    producer_config,
)
from outboxkit.kafka.lag import PipelineLag
from outboxkit.kafka.records import Record, decode as decode_record
from outboxkit.kafka.replay import EventTap, format_event
from outboxkit.operations.dependency_checks import (
    connectors as check_connectors,
    database as check_database,
    kafka as check_kafka,
    registry as check_registry,
    run_checks,
)
from outboxkit.operations.view import OperatedGroup, OperationsView, group_lag
from outboxkit.serialization.avro import AvroEventDeserializer, AvroEventSerializer
from outboxkit.serialization.schema_registry import SchemaRegistryClient
from outboxkit.service.access import (
    ADMIN as ADMIN_PRINCIPAL,
    CONNECT as CONNECT_PRINCIPAL,
    CONNECT_GROUP,
    all_grants as kafka_grants,
    principals as kafka_principals,
    roster as access_roster,
)
from outboxkit.service.provisioning import provisioning_sql
from outboxkit.service.roster import (
    connector_for,
    flow_topics,
    outbox_connectors,
    publishing_services,
    schema_catalog,
    service as service_named,
    service_definitions as roster_services,
)
from outboxkit.storage.db import create_tables, make_engine

__all__ = [
    "ADMIN_PRINCIPAL",
    "CONNECT_GROUP",
    "CONNECT_PRINCIPAL",
    "DEAD_LETTER_TOPIC_CONFIG",
    "DEFAULT_OTLP_ENDPOINT",
    "DEFAULT_PARTITIONS",
    "HEADER_CORRELATION_ID",
    "HEADER_TRACEPARENT",
    "OFFSETS_SEGMENT_MS",
    "AvroEventDeserializer",
    "AvroEventSerializer",
    "CdcCollector",
    "CommittedOffsets",
    "ConnectClient",
    "ConnectorDeployment",
    "ConnectorReport",
    "ConsumedEvent",
    "DeadLetterSelectionError",
    "EventRoutes",
    "EventTap",
    "OperatedGroup",
    "OperationsView",
    "OutboxEvent",
    "PipelineLag",
    "Record",
    "RecordApplier",
    "SchemaRegistryClient",
    "SqlGuardTables",
    "Trace",
    "access_roster",
    "admin_client",
    "apply_span",
    "check_connectors",
    "check_database",
    "check_kafka",
    "check_registry",
    "child_span",
    "configure_tracing",
    "connect_kafka_login",
    "connector_config",
    "connector_for",
    "consumer_config",
    "continued_from",
    "create_tables",
    "database_of",
    "db_password_key",
    "dead_letter_topic_for",
    "decode_record",
    "ensure_topics",
    "flow_topics",
    "flush_traces",
    "format_event",
    "group_lag",
    "heartbeat_topic",
    "kafka_grants",
    "kafka_principals",
    "make_engine",
    "outbox_connectors",
    "password_key",
    "print_reports",
    "producer_config",
    "provisioning_sql",
    "publishing_services",
    "read_env_file",
    "report_connectors",
    "retry_topic_for",
    "roster_services",
    "routed_topics",
    "run_checks",
    "schema_catalog",
    "server_span",
    "service_named",
    "trace_for_new_event",
    "tracing_enabled",
    "verify_publication",
]
