"""``order-api [--host H] [--port P]``: the order API and its page on uvicorn (127.0.0.1:8000)."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from outboxkit.cli import ArgumentParser, number_argument, require_free_port, run_cli

PROG = "order-api"
log = logging.getLogger(PROG)


class QuietlyStoppingServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown, so the process would end
    by the signal; here a stop request is a normal end: exit 0, one log line."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, _frame: object) -> None:
            if self.should_exit:
                self.force_exit = True
            log.info(
                "%s received: finishing the requests in flight, then stopping", signal.Signals(signum).name
            )
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(host: str, port: int) -> int:
    from services.order_api.app import create_app

    require_free_port(host, port, PROG)
    app = create_app()  # connects and creates missing tables first: a dead stack fails here, in one line
    log.info("serving http://%s:%d/ (OpenAPI at /docs)", host, port)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    server = QuietlyStoppingServer(config)
    server.run()
    if not server.started:
        raise OSError(f"could not listen on {host}:{port} (see the line above)")
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog=PROG, description="The order API and its web page.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    port = number_argument(int, at_least=1, at_most=65535, noun="a port number")
    parser.add_argument("--port", type=port, default=8000, help="port to listen on (default 8000)")
    args = parser.parse_args(argv)
    return run_cli(PROG, lambda: serve(args.host, args.port), (OSError,), log_level="INFO")


if __name__ == "__main__":
    raise SystemExit(main())
