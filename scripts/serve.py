#!/usr/bin/env python3
"""``./run serve``: the whole system, up until Ctrl-C, with the web page.

Starts the native stack (or uses the one OUTBOXKIT_ENV_FILE describes), creates the tables, registers
the connectors, stocks the products the page offers when they have no stock row yet, starts the
three services, the read model (order-view) and the order API as their own processes, prints the
page's address, and keeps them up. Ctrl-C (or SIGTERM) drains and stops what it started.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.api import ensure_up, stack_elsewhere
from devstack.console import relative
from outboxkit import Settings, service_definitions
from outboxkit.cli import ArgumentParser, number_argument, require_free_port, run_cli
from services import build_all
from services.instances import ApiInstance, ServiceInstance

ROOT = Path(__file__).resolve().parent.parent

PROG = "serve"


def say(text: str) -> None:
    print(f"[serve] {text}", flush=True)


def serve(host: str, port: int) -> int:
    require_free_port(host, port, "order-api")
    other_stack = stack_elsewhere()
    if other_stack:
        say(f"using the stack described by {relative(other_stack)}")
    else:
        say("starting the native stack (what runs already is reused)")
        ensure_up()
    settings = Settings.load()
    contexts = build_all(settings)
    say("registering the Debezium outbox connectors")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "register_connectors.py")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for definition in service_definitions():
        if definition.starter is not None:
            context = contexts.get(definition.name) or definition.context(settings, migrate=True)
            for done in definition.starter(context):
                say(f"{definition.name}: {done}")

    started: list[ServiceInstance] = []
    stopping = False

    def stop_all(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        for name in (d.name for d in service_definitions()):
            instance = ServiceInstance(name, f"serve-{name}").start()
            started.append(instance)
            instance.wait_assigned()
            metrics = (instance.health_url or "").removesuffix("/health") + "/metrics"
            say(
                f"{name.replace('_', '-')} running (pid {instance.pid}, "
                f"log {instance.log_path.relative_to(ROOT)}, {metrics})"
            )
        api = ApiInstance("serve-order-api", port=port, host=host)
        api.start()
        started.append(api)
        api.wait_serving()
        say(f"order API running (pid {api.pid}, log {api.log_path.relative_to(ROOT)})")
        say(f"open {api.url}/  (API docs: {api.url}/docs). Ctrl-C stops everything.")
        while not stopping:
            dead = [i for i in started if not i.alive()]
            if dead:
                say(
                    f"{dead[0].service} exited (code {dead[0].process.returncode}); its log: "  # type: ignore[union-attr]
                    f"{dead[0].log_path.relative_to(ROOT)}. Stopping the rest."
                )
                return 1
            time.sleep(0.5)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the drain short
        if started:
            say("draining and stopping what serve started")
        for instance in reversed(started):
            # A terminal's Ctrl-C reaches the children too: they may be draining already.
            code = instance.stop()
            say(f"{instance.service.replace('_', '-')} stopped (exit {code})")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="where the API listens (default 127.0.0.1)")
    port = number_argument(int, at_least=1, at_most=65535, noun="a port number")
    parser.add_argument("--port", type=port, default=8000, help="the API's port (default 8000)")
    args = parser.parse_args(argv)
    return run_cli(PROG, lambda: serve(args.host, args.port), log_level="INFO")


if __name__ == "__main__":
    raise SystemExit(main())
