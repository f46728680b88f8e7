"""Runs a service's consumer loop and its periodic jobs (e.g. saga timeouts) until SIGTERM."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from eventcore.bootstrap import ServiceContext
from eventcore.consumer import ConsumerOptions, ConsumerRuntime, Counters, Handler

log = logging.getLogger(__name__)


def _every(interval_s: float, job: Callable[[], object], stop: threading.Event) -> None:
    while not stop.wait(interval_s):
        try:
            job()
        except Exception:  # a failed sweep must not kill the service; the next one retries
            log.exception("periodic job %s failed", getattr(job, "__name__", job))


def run_service(
    context: ServiceContext,
    group_id: str,
    topics: Iterable[str],
    handlers: Mapping[str, Handler],
    periodic: Iterable[tuple[float, Callable[[], object]]] = (),
    options: ConsumerOptions | None = None,
) -> Counters:
    runtime = ConsumerRuntime(
        group_id=group_id,
        topics=topics,
        handlers=handlers,
        uow_factory=context.uow_factory,
        inbox_table=context.metadata.tables["inbox"],
        versions_table=context.metadata.tables["aggregate_versions"],
        settings=context.settings,
        catalog=context.catalog,
        options=options,
    )
    runtime.install_signal_handlers()
    stop = threading.Event()
    workers = [
        threading.Thread(target=_every, args=(interval, job, stop), daemon=True,
                         name=f"{group_id}-{getattr(job, '__name__', 'job')}")
        for interval, job in periodic
    ]
    for worker in workers:
        worker.start()
    try:
        return runtime.run()
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=5)
