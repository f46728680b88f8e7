"""``stack k8s render`` and ``stack k8s check``: the manifests from this checkout's sources, and
their offline check. Neither reaches a cluster, the stack or the network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack.errors import StackError
from devstack.kubernetes.render import every_resource, read_manifests, render, write
from devstack.kubernetes.target import DATABASE_KINDS, Target, TargetError
from devstack.kubernetes.validate import validate_all
from outboxkit.cli import installed_version

LAYOUTS = ("per-server", "per-service")


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    k8s = commands.add_parser(
        "k8s", help="Kubernetes manifests (Strimzi) rendered from this checkout, checked offline"
    )
    actions = k8s.add_subparsers(dest="k8s_command", required=True, metavar="ACTION")
    out = actions.add_parser(
        "render",
        help="write the manifests for a namespace and an image registry (checked before they are written)",
    )
    out.add_argument("--out", type=Path, required=True, help="folder to write them to (created)")
    out.add_argument("--namespace", required=True, help="the namespace everything goes in")
    out.add_argument(
        "--registry", required=True, help="where the images are pushed, e.g. registry.example.com/team"
    )
    out.add_argument(
        "--tag",
        default=installed_version("outbox-cdc"),
        help="the images' tag (default: this checkout's version)",
    )
    out.add_argument("--db-host", required=True, help="the team's MySQL, as the pods reach it")
    out.add_argument("--db-port", type=int, default=3306, help="its port (default 3306)")
    out.add_argument(
        "--database-kind",
        choices=DATABASE_KINDS,
        default="mysql",
        help="MySQL or MariaDB: picks Debezium's connector (default mysql)",
    )
    out.add_argument(
        "--connectors",
        choices=LAYOUTS,
        default=None,
        help="one connector per database server (the default) or one per service (CDC_CONNECTORS)",
    )
    out.add_argument("--cdc-secret", default="outbox-cdc-db", help="Secret with the CDC user's password")
    out.add_argument("--db-secret", default="outbox-db", help="Secret with the services' database passwords")
    out.add_argument("--kafka-storage", default="20Gi", help="each Kafka node's volume (default 20Gi)")
    check = actions.add_parser(
        "check", help="validate a folder of manifests against the Strimzi and Kubernetes schemas"
    )
    check.add_argument("folder", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.k8s_command == "render":
        return _render(args)
    return _check(args.folder)


def _render(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise TargetError(f"--out {args.out} is a file, not a folder")
    target = Target(
        namespace=args.namespace,
        registry=args.registry,
        image_tag=args.tag,
        db_host=args.db_host,
        db_port=args.db_port,
        database_kind=args.database_kind,
        cdc_secret=args.cdc_secret,
        db_secret=args.db_secret,
        kafka_storage=args.kafka_storage,
        connector_layout=args.connectors,
    )
    files = render(target)
    resources = every_resource(files)
    problems = validate_all(resources)
    if problems:
        for problem in problems:
            print(f"[stack] invalid: {problem}", file=sys.stderr)
        raise StackError(f"{len(problems)} rendered resources do not match their schemas; nothing written")
    try:
        written = write(files, target, args.out)
    except OSError as exc:
        raise StackError(f"cannot write to {args.out}: {exc.strerror or exc}") from None
    for path in written:
        print(f"[stack] wrote {path}")
    kinds: dict[str, int] = {}
    for resource in resources:
        kinds[resource["kind"]] = kinds.get(resource["kind"], 0) + 1
    print(
        f"[stack] {len(resources)} resources ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
        f"valid against Strimzi's and Kubernetes' schemas; apply them as {args.out / 'README.md'} says"
    )
    return 0


def _check(folder: Path) -> int:
    if not folder.is_dir():
        raise StackError(f"{folder} is not a folder of manifests")
    found = read_manifests(folder)
    if not found:
        raise StackError(f"{folder} holds no YAML manifests")
    problems = validate_all(resource for _path, resource in found)
    for problem in problems:
        print(f"[stack] invalid: {problem}", file=sys.stderr)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"[stack] {len(problems)} {noun} in {len(found)} resources", file=sys.stderr)
        return 1
    print(f"[stack] {len(found)} resources in {folder}: valid against Strimzi's and Kubernetes' schemas")
    return 0
