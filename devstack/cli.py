"""``stack``: run the native development stack (MariaDB, Kafka, Apicurio Registry, Connect;
Jaeger with ``--tracing``).

Exit codes: 0 success (for ``status``: every part is up), 1 an error (message on stderr),
2 bad usage (an unknown part, say), 3 ``status`` found a part that is not up, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from devstack import logs
from devstack.config import BROKER_COUNTS
from devstack.console import relative
from devstack.errors import StackError
from devstack.kubernetes import cli as kubernetes_cli
from devstack.stack import Stack, describe
from outboxkit import Settings
from outboxkit.cli import ArgumentParser, installed_version
from outboxkit.ops import ConnectorReport, outbox_connectors, print_reports, report_connectors

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_ALL_UP = 3


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="stack",
        version=f"outbox-cdc {installed_version('outbox-cdc')}",
        description="Run MariaDB, Kafka (KRaft), Apicurio Registry and Kafka Connect with "
        "Debezium as local processes. State lives in <repo>/.state (or $STACK_STATE_DIR).",
        epilog="status exits 0 when every part is up, 3 when some part is not.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="install what is missing, start what is not running")
    up.add_argument(
        "--brokers",
        type=int,
        choices=BROKER_COUNTS,
        default=None,
        help="1 Kafka node (the default) or a cluster of 3 with 2 Connect workers; "
        "remembered in stack.env for every later command",
    )
    up.add_argument(
        "--tracing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run Jaeger (built from its Go module the first time) and write TRACING=true to "
        "stack.env, so every service, tool and test started on this stack exports its spans there; "
        "remembered like --brokers (--no-tracing turns it off)",
    )
    install = commands.add_parser("install", help="fetch what is missing, start nothing")
    install.add_argument(
        "--tracing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also build Jaeger (several minutes, once)",
    )
    commands.add_parser("down", help="stop the processes the stack started")
    restart = commands.add_parser(
        "restart",
        help="stop and start parts (kafka: every broker, connect: "
        "every worker), e.g. after changing a setting",
    )
    restart.add_argument("parts", nargs="+", metavar="PART")
    status = commands.add_parser("status", help="up/down, port, pid and log of each part, and CDC")
    status.add_argument("--json", action="store_true", help="one JSON document")
    log = commands.add_parser("logs", help="show the end of one or all logs")
    log.add_argument(
        "component", nargs="?", help="mariadb, kafka, registry, connect, cdc-supervisor or jaeger"
    )
    log.add_argument("-n", "--lines", type=int, default=50, help="lines to show (default 50)")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    trace = commands.add_parser(
        "trace",
        help="an order's (or any key's) trace from the stack's Jaeger, as a tree (--tracing)",
    )
    trace.add_argument("key", metavar="ORDER_ID|TRACE_ID")
    images = commands.add_parser(
        "images",
        help="build the compose stack's images from the pinned "
        "artifacts (compose.local.yaml), and the services' image the Kubernetes manifests run; "
        "starts a Docker engine if none runs",
    )
    images.add_argument("--rebuild", action="store_true", help="build again even if the tags exist")
    docker = commands.add_parser("docker", help="the Docker engine the stack starts where none runs")
    docker.add_argument("action", choices=("up", "down", "status"))
    kubernetes_cli.add_parser(commands)
    return parser


def _status(stack: Stack, as_json: bool) -> int:
    parts = stack.status()
    up = {p.name for p in parts if p.state == "up"}
    all_up = len(up) == len(parts)
    if as_json:
        # With Connect down the offsets are read from Kafka: a stopped Connect's headroom still counts.
        reports = _cdc_reports(stack) if {"mariadb", "kafka"} <= up else []
        streaming = all(report.healthy for report in reports)
        document = {
            "topology": describe(stack.topology),
            "parts": [
                {
                    "name": p.name,
                    "state": p.state,
                    "ports": list(p.ports),
                    "pid": p.pid,
                    "log": str(relative(p.log)),
                }
                for p in parts
            ],
            "connectors": [report.as_json() for report in reports],
            "healthy": all_up and streaming,
        }
        print(json.dumps(document, indent=2))
        return EXIT_OK if document["healthy"] else EXIT_NOT_ALL_UP
    print(f"topology: {describe(stack.topology)}")
    print(f"{'PART':<15} {'STATE':<10} {'PORTS':<12} {'PID':<8} LOG")
    for part in parts:
        ports = ",".join(str(p) for p in part.ports)
        pid = str(part.pid) if part.pid else "-"
        print(f"{part.name:<15} {part.state:<10} {ports or '-':<12} {pid:<8} {relative(part.log)}")
    # With Connect down the offsets are read from Kafka: a stopped Connect's headroom still counts.
    if {"mariadb", "kafka"} <= up and not _cdc_streaming(stack):
        return EXIT_NOT_ALL_UP
    return EXIT_OK if all_up else EXIT_NOT_ALL_UP


def _cdc_reports(stack: Stack) -> list[ConnectorReport]:
    return report_connectors(Settings.load(stack.paths.stack_env), outbox_connectors())


def _cdc_streaming(stack: Stack) -> bool:
    """A connector whose task says RUNNING may still not read the binlog (its heartbeats tell), and
    one that does not stream loses binlog headroom (its position may be purged)."""
    reports = _cdc_reports(stack)
    print("\nCDC (streaming = task RUNNING and a recent heartbeat; binlog = how long its position is safe)")
    print_reports(reports, indent="  ", stream=sys.stdout)
    return all(report.healthy for report in reports)


def _logs(stack: Stack, component: str | None, lines: int, follow: bool) -> int:
    parts = [stack.component(component)] if component else list(stack.components)
    files = {part.name: part.log_file for part in parts}
    logs.show(files, lines)
    if follow:
        logs.follow(files)
    return EXIT_OK


def _images(stack: Stack, rebuild: bool) -> int:
    from devstack.docker import compose_plugin
    from devstack.images import ImageBuilder

    stack.docker.ensure()
    compose_plugin(stack.paths, stack.ctx.versions)
    tags = ImageBuilder(stack.ctx).build_all(rebuild)
    print("images: " + ", ".join(tags.values()))
    print("run the compose stack on them: export COMPOSE_FILE=compose.yaml:compose.local.yaml")
    return EXIT_OK


def _docker(stack: Stack, action: str) -> int:
    engine = stack.docker
    if action == "up":
        engine.ensure()
    elif action == "down":
        engine.stop()
    else:
        state = engine.status()
        answers = engine.is_healthy()
        owner = f"started by the stack (pid {state.pid})" if state.running else "not started by the stack"
        print(f"docker engine: {'answers' if answers else 'not running'}; {owner}")
        return EXIT_OK if answers else EXIT_NOT_ALL_UP
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "k8s":  # reaches nothing of the stack: no Stack to build
        try:
            return kubernetes_cli.run(args)
        except (StackError, ValueError) as error:
            print(f"[stack] error: {error}", file=sys.stderr, flush=True)
            return EXIT_USAGE if isinstance(error, ValueError) else EXIT_ERROR
        except KeyboardInterrupt:
            print("[stack] interrupted", file=sys.stderr, flush=True)
            return 130
    stack = Stack(brokers=getattr(args, "brokers", None), tracing=getattr(args, "tracing", None))
    try:
        if args.command == "up":
            stack.up()
        elif args.command == "install":
            stack.install()
        elif args.command == "down":
            stack.down()
        elif args.command == "restart":
            stack.restart(args.parts)
        elif args.command == "status":
            return _status(stack, args.json)
        elif args.command == "logs":
            return _logs(stack, args.component, args.lines, args.follow)
        elif args.command == "trace":
            from devstack.traces import show

            return show(stack.jaeger.url, args.key)
        elif args.command == "images":
            return _images(stack, args.rebuild)
        elif args.command == "docker":
            return _docker(stack, args.action)
    except StackError as error:
        print(f"[stack] error: {error}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyError as error:  # a part the stack has not: what was typed
        print(f"[stack] error: {error.args[0]}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("[stack] interrupted", file=sys.stderr, flush=True)
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
