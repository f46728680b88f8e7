"""One service process: wires the consumer runtime, its periodic jobs and its health endpoint,
and owns the process-level concerns (signals, the drain watchdog, waiting out outages at start).

SIGTERM/SIGINT drain: stop fetching, finish the record in hand, commit, leave the group; a
watchdog ends the process if that takes longer than ``CONSUMER_DRAIN_TIMEOUT_S``.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from confluent_kafka import Producer

from outboxkit.base.failures import Backoff, FailureKind, RetryPolicy, classify
from outboxkit.base.settings import SettingsError
from outboxkit.base.topics import retry_topic_for
from outboxkit.consuming.applier import RecordApplier
from outboxkit.consuming.apply_hooks import apply_hooks_from
from outboxkit.consuming.consumer import ConsumerOptions, ConsumerRuntime, Counters
from outboxkit.consuming.dispatch import EventRoutes
from outboxkit.consuming.guard import SqlGuardTables
from outboxkit.consuming.health import Health, HealthEndpoint
from outboxkit.dead_letters.queue import DeadLetterQueue, DeadLetterStore
from outboxkit.kafka.clients import producer_config
from outboxkit.serialization.avro import AvroEventDeserializer
from outboxkit.service.context import ServiceContext
from outboxkit.service.retention import Pruner

log = logging.getLogger(__name__)
T = TypeVar("T")
PeriodicJob = tuple[float, Callable[[], object]]


class Stopped(Exception):
    """The process was asked to stop while it waited for a dependency."""


def wait_out_outages(
    step: Callable[[], T], health: Health, stop: threading.Event, backoff: Backoff, what: str
) -> T:
    """Run ``step``; while it fails because a dependency is down, report it and try again."""
    tries = 0
    while True:
        try:
            result = step()
        except Exception as exc:
            failure = classify(exc)
            if failure.kind is not FailureKind.OUTAGE or failure.dependency is None:
                raise
            tries += 1
            health.unavailable(failure.dependency, failure.summary, holding=what)
            if stop.wait(backoff.delay(tries)):
                raise Stopped(what) from None
            continue
        health.recovered_all()
        return result


def run_periodically(
    interval_s: float, job: Callable[[], object], stop: threading.Event, health: Health
) -> None:
    """Run ``job`` every ``interval_s`` until ``stop``; an outage is reported once, not per run."""
    name = getattr(job, "__name__", "job")
    last_error: str | None = None
    while not stop.wait(interval_s):
        try:
            job()
        except Exception as exc:
            failure = classify(exc)
            if failure.kind is FailureKind.OUTAGE and failure.dependency is not None:
                health.unavailable(failure.dependency, failure.summary, holding=f"the {name} job")
            elif failure.summary != last_error:  # a bug: loud once, then one line per change
                log.exception("periodic job %s failed", name)
            last_error = failure.summary
            continue
        if last_error is not None:
            log.info("periodic job %s runs again", name)
            last_error = None
        health.recovered_all()


class ServiceProcess:
    """The running parts of one service process, built from its context and settings."""

    def __init__(
        self,
        context: ServiceContext[Any],
        group_id: str,
        topics: Iterable[str],
        routes: EventRoutes[Any],
        periodic: Iterable[PeriodicJob] = (),
        until_caught_up: bool = False,
        health_port: int = 0,
        outbox_connector: str | None = None,
    ) -> None:
        settings = context.settings
        self.context = context
        self.group_id = group_id
        self.topics = list(topics)
        self.periodic = list(periodic)
        # Every setting is read here, before anything starts: a bad value fails the start.
        prune_every_s = settings.prune_every_s
        if prune_every_s > 0 and not until_caught_up:
            self.periodic.append(
                (
                    prune_every_s,
                    Pruner(
                        context.engine,
                        context.messaging,
                        group_id,
                        [*self.topics, retry_topic_for(group_id)],
                        outbox_connector,
                        settings.kafka_bootstrap_servers,
                        settings.connect_url,
                        timedelta(days=settings.inbox_retention_days),
                        timedelta(days=settings.outbox_retention_days),
                        settings.prune_batch_size,
                    ),
                )
            )
        self.drain_timeout_s = settings.consumer_drain_timeout_s
        self.options = ConsumerOptions(
            batch_size=settings.consumer_batch_size,
            apply_in_batches=settings.consumer_apply_in_batches,
            retry=RetryPolicy(max_conflict_attempts=settings.consumer_retry_max_attempts),
            stop_when_caught_up=until_caught_up,
            # A run to the end (a rebuild) reports its progress more often than a service does.
            stats_interval_s=2.0 if until_caught_up else 10.0,
            commit_interval_s=settings.consumer_commit_interval_s,
        )
        hooks = apply_hooks_from(settings)
        self.health_port, self.health_port_required = settings.health_port(health_port)
        self.health = Health(group_id, logging.getLogger(context.name))
        self.stop_event = threading.Event()
        messaging = context.messaging
        self.applier = RecordApplier(
            group_id,
            routes,
            context.uow_factory,
            lambda uow: SqlGuardTables(uow.connection, messaging, group_id),
            AvroEventDeserializer(context.registry, context.catalog),
            hooks,
        )
        bootstrap = settings.kafka_bootstrap_servers
        dead_letters = DeadLetterQueue(
            Producer(producer_config(bootstrap)),
            group_id,
            DeadLetterStore(messaging.dead_letters, group_id),
            context.uow_factory,
        )
        self.runtime = ConsumerRuntime(
            bootstrap, self.topics, self.applier, dead_letters, self.health, self.options
        )
        self.health.set_details(self.runtime.report)

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: object) -> None:
            if self.stop_event.is_set():
                return
            log.info(
                "%s: %s received, draining (at most %.0fs)",
                self.group_id,
                signal.Signals(signum).name,
                self.drain_timeout_s,
            )
            self.health.draining()
            self.stop_event.set()
            self.runtime.stop()
            # A handler stuck on a remote call must not keep the process alive for good: what it
            # had not committed is re-delivered to the next owner of the partition.
            watchdog = threading.Timer(self.drain_timeout_s, self._abandon_drain)
            watchdog.daemon = True
            watchdog.start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _abandon_drain(self) -> None:
        log.error(
            "%s: drain did not finish within %.0fs; exiting without it", self.group_id, self.drain_timeout_s
        )
        logging.shutdown()
        os._exit(3)

    def _serve_health(self) -> HealthEndpoint:
        metrics = self.runtime.metrics.registry
        try:
            endpoint = HealthEndpoint(self.health, port=self.health_port, metrics=metrics).start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or self.health_port_required:
                raise SettingsError(
                    f"HEALTH_PORT={self.health_port}: cannot listen ({exc.strerror})"
                ) from None
            # Another instance of this service holds the default port: take any free one.
            endpoint = HealthEndpoint(self.health, port=0, metrics=metrics).start()
        log.info("%s: health at %s", self.group_id, endpoint.url)
        return endpoint

    def run(self) -> Counters:
        self.install_signal_handlers()
        endpoint = self._serve_health()
        backoff = self.options.retry.outage_backoff
        try:
            # A fresh database works without a separate migrate step; both wait for an outage.
            wait_out_outages(self.context.migrate, self.health, self.stop_event, backoff, "start-up")
            wait_out_outages(self.runtime.prepare, self.health, self.stop_event, backoff, "start-up")
        except Stopped:
            log.info("%s: stopped before it could start", self.group_id)
            endpoint.stop()
            return self.runtime.counters
        workers = [
            threading.Thread(
                target=run_periodically,
                args=(interval, job, self.stop_event, self.health),
                daemon=True,
                name=f"{self.group_id}-{getattr(job, '__name__', 'job')}",
            )
            for interval, job in self.periodic
        ]
        for worker in workers:
            worker.start()
        try:
            return self.runtime.run()
        finally:
            self.stop_event.set()
            for worker in workers:
                worker.join(timeout=5)
            endpoint.stop()
