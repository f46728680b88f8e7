"""The command line every service shares, turned from a :class:`ServiceDefinition`.

``migrate`` and ``run``, the operator commands every service has (``dlq``, ``prune-outbox``,
``rewind``),
and the service's own commands; each service's ``main.py`` only describes itself.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from outboxkit.base import tracing
from outboxkit.base.errors import InvalidValueError, NotFoundError
from outboxkit.cdc.connect_client import ConnectError
from outboxkit.cdc.progress import CdcProgressUnknown
from outboxkit.cli import (
    EXIT_OK,
    ArgumentParser,
    dead_letters as dlq_cli,
    outbox as outbox_cli,
    rewind as rewind_cli,
    run_cli,
)
from outboxkit.dead_letters.tools import DeadLetterSelectionError
from outboxkit.domain.state_machine import TransitionRefused
from outboxkit.kafka.clients import password_key, use_identity
from outboxkit.serialization.schema_registry import SchemaRegistryError
from outboxkit.service.context import ServiceContext
from outboxkit.service.definition import ServiceDefinition
from outboxkit.service.roster import connector_for

# Mistakes a person can make at a service's command line, answered with one line (exit 2);
# any other error is a bug and keeps its traceback.
PERSON_ERRORS: tuple[type[BaseException], ...] = (
    InvalidValueError,
    NotFoundError,
    TransitionRefused,
    SchemaRegistryError,
    ConnectError,
    CdcProgressUnknown,
    DeadLetterSelectionError,
)


def _parser(definition: ServiceDefinition[Any]) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=definition.group_id)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="create the service's tables and register its schemas")
    sub.add_parser(
        "run", help=f"consume {', '.join(definition.topics)} until SIGTERM/SIGINT (settings: see README)"
    )
    for name, command in definition.commands.items():
        command.configure(sub.add_parser(name, help=command.help))
    dlq_cli.configure(sub.add_parser("dlq", help=f"the dead letters of {definition.group_id}"))
    if definition.publishes:  # a read model has no outbox a connector publishes
        outbox_cli.configure(
            sub.add_parser("prune-outbox", help="delete published outbox rows older than --days")
        )
    rewind_cli.configure(
        sub.add_parser(
            "rewind",
            help=f"read {', '.join(definition.topics)} again from their start or a time (the group stopped)",
        )
    )
    return parser


def service_main(definition: ServiceDefinition[Any], argv: list[str] | None = None) -> int:
    """A service's program: ``run`` (its consumer loop, /health and /metrics), ``migrate``, its
    own ``commands``, and the operator's ``dlq``, ``rewind`` and ``prune-outbox``; returns the
    exit code for ``main`` (2 a mistake in what was typed, 1 a part that is down)."""
    prog = definition.group_id
    args = _parser(definition).parse_args(argv)
    return run_cli(prog, lambda: _execute(definition, args), PERSON_ERRORS, log_level="INFO")


def _execute(definition: ServiceDefinition[Any], args: argparse.Namespace) -> int:
    context = definition.context()
    tracing.configure_tracing(definition.group_id, context.settings)
    if args.command == "run":
        return _run(definition, context)
    # A command (place an order, say) is a trace of its own: its transactions and events in it.
    with tracing.span(
        f"{definition.group_id} {args.command}", attributes={"outboxkit.command": args.command}
    ):
        return _command(definition, context, args)


def _run(definition: ServiceDefinition[Any], context: ServiceContext[Any]) -> int:
    _log_in_as_the_service(definition, context)
    definition.process(context, outbox_connector=connector_for(definition, context.settings)).run()
    return EXIT_OK


def _log_in_as_the_service(definition: ServiceDefinition[Any], context: ServiceContext[Any]) -> None:
    # On a locked-down cluster a service logs in as its own principal (its group), which may
    # read its inputs and write only its own dead-letter and retry topics.
    own = context.settings.values.get(password_key(definition.group_id))
    if own:
        use_identity(definition.group_id, own)


def _command(
    definition: ServiceDefinition[Any], context: ServiceContext[Any], args: argparse.Namespace
) -> int:
    _log_in_as_the_service(definition, context)
    if args.command == "migrate":
        context.migrate()
        return EXIT_OK
    if args.command == "dlq":
        return dlq_cli.execute(context, definition.group_id, args)
    if args.command == "prune-outbox":
        return outbox_cli.execute(context, args)
    if args.command == "rewind":
        return rewind_cli.execute(context, definition.group_id, definition.topics, args)
    logging.getLogger(definition.name).debug("running %s", args.command)
    return definition.commands[args.command].execute(context, args)
