"""The compose stack as a user runs it: the documented commands verbatim (docs/operations.md), a
restart that keeps the data, and `down -v` leaving nothing behind. Runs with
STACK_BACKEND=compose (`./run test` does), in a scratch copy of the repository so the user's own
.env is never touched."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.docker import compose_plugin
from devstack.images import ImageBuilder
from devstack.stack import Stack
from outboxkit.service.roster import outbox_connectors
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.stack,
    pytest.mark.compose,
    pytest.mark.skipif(
        os.environ.get("STACK_BACKEND") != "compose",
        reason="the compose stack's own tests run with STACK_BACKEND=compose",
    ),
]
PROJECT = "outbox-cdc"


def documented_blocks(heading: str) -> list[str]:
    """The ```sh blocks of one section of docs/operations.md, as a user copies them."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def shell(
    script: str, workdir: Path, env: dict[str, str], timeout_s: float = 1200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def compose_objects(kind: str) -> list[str]:
    """Containers, volumes or networks of the project (by compose's own label)."""
    command = {"containers": ["ps", "-a"], "volumes": ["volume", "ls"], "networks": ["network", "ls"]}[kind]
    result = subprocess.run(
        [
            "docker",
            *command,
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--format",
            "{{.Names}}" if kind == "containers" else "{{.Name}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    stack = Stack()
    started = stack.docker.ensure()
    compose_plugin(stack.paths, stack.ctx.versions)
    ImageBuilder(stack.ctx).build_all()
    copy = tmp_path_factory.mktemp("user-checkout")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if k not in ("OUTBOXKIT_ENV_FILE", "STACK_BACKEND")}
    # What docs/operations.md tells a user without registry access to set first.
    env["COMPOSE_FILE"] = "compose.yaml:compose.local.yaml"
    yield copy, env
    shell("docker compose down -v", copy, env, 300)
    if started:
        stack.docker.stop()


def test_the_documented_commands_run_the_demo_on_the_compose_stack(workdir):
    copy, env = workdir
    blocks = documented_blocks("### With Docker instead")
    assert blocks and "docker compose up -d --wait" in blocks[0]
    started = time.monotonic()
    result = shell(blocks[0], copy, env)
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "the stack described by .env" in result.stdout
    assert re.search(r"happy: CONFIRMED", result.stdout)
    assert re.search(r"no stock: CANCELLED \(stock rejected", result.stdout)
    assert re.search(r"declined: CANCELLED \(payment failed", result.stdout)
    print(f"documented compose commands: {time.monotonic() - started:.0f}s")
    assert sorted(compose_objects("containers")) == sorted(
        f"{PROJECT}-{s}-1" for s in ("mysql", "kafka", "registry", "connect")
    )


# Records per flow topic, counted by reading them (read-committed): Connect publishes exactly-once,
# so a topic's end offset also counts each transaction's commit marker, which is no record.
COUNT_RECORDS = """
import json
from confluent_kafka import Consumer, TopicPartition
counts = {}
for topic in ("order.events", "inventory.events", "payment.events"):
    reader = Consumer({"bootstrap.servers": "127.0.0.1:9092", "group.id": "count",
                       "isolation.level": "read_committed", "enable.partition.eof": True})
    reader.assign([TopicPartition(topic, p, 0) for p in range(6)])
    counts[topic], ended = 0, set()
    while len(ended) < 6:
        message = reader.poll(10)
        if message is None:
            raise SystemExit(f"{topic}: no answer from Kafka within 10s")
        if message.error() is None:
            counts[topic] += 1
        else:
            ended.add(message.partition())
    reader.close()
print(json.dumps(counts))
"""


def topic_records(copy: Path, env: dict[str, str]) -> dict[str, int]:
    result = shell(f".venv/bin/python -c {shlex.quote(COUNT_RECORDS)}", copy, env, 120)
    assert result.returncode == 0, result.stderr
    counts: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return counts


def connectors() -> dict[str, str]:
    with urllib.request.urlopen("http://127.0.0.1:8083/connectors?expand=status", timeout=10) as response:
        body = json.loads(response.read())
    return {name: info["status"]["connector"]["state"] for name, info in body.items()}


def test_kafka_and_connect_keep_their_data_across_down_and_up(workdir):
    copy, env = workdir
    env = {**env, "OUTBOXKIT_ENV_FILE": ".env"}
    before = topic_records(copy, env)
    assert all(before.values()), before  # the demo published on every topic
    assert set(connectors()) == {d.name for d in outbox_connectors()}

    down = shell("docker compose down", copy, env, 300)  # without -v: the volumes stay
    assert down.returncode == 0, down.stderr
    assert compose_objects("containers") == [] and len(compose_objects("volumes")) == 3
    up = shell("docker compose up -d --wait", copy, env, 900)
    assert up.returncode == 0, up.stderr

    assert topic_records(copy, env) == before  # topics and their records survived
    deadline = time.monotonic() + 180
    while set(connectors().values()) != {"RUNNING"} and time.monotonic() < deadline:
        time.sleep(2)
    assert connectors() == {d.name: "RUNNING" for d in outbox_connectors()}
    # Connect resumed from its stored offsets: a new order is published, and nothing again.
    placed = shell(
        ".venv/bin/order-service place --customer after-restart --line AFTER-RESTART:1:100", copy, env, 120
    )
    assert placed.returncode == 0, placed.stderr
    deadline = time.monotonic() + 60
    while topic_records(copy, env)["order.events"] != before["order.events"] + 1:
        assert time.monotonic() < deadline, f"no new OrderCreated: {topic_records(copy, env)} vs {before}"
        time.sleep(1)


def test_down_with_volumes_leaves_nothing_behind(workdir):
    copy, env = workdir
    result = shell("docker compose down -v", copy, env, 300)
    assert result.returncode == 0, result.stderr
    assert compose_objects("containers") == []
    assert compose_objects("volumes") == []
    assert compose_objects("networks") == []
