"""The order API: thin HTTP over the order service's use cases and the read model.

Writes go to order_db through the order service's own use cases (the same transactions, outbox
rows and sagas as its command line); reads come from the read model in query_db, each with its
sync state against what order_db's outbox says was written (outboxkit.read_models.sync).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path as PathParam, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from outboxkit import (
    IdempotencyKeys,
    InvalidIdempotencyKeyError,
    KeyReusedError,
    Remember,
    Settings,
    StoredResponse,
    TransitionRefused,
    VersionNotWrittenError,
    sync_state,
    utc_now,
    valid_key,
    written_for,
)
from outboxkit.ops import (
    CdcCollector,
    check_connectors,
    check_database,
    check_kafka,
    check_registry,
    configure_tracing,
    create_tables,
    make_engine,
    outbox_connectors,
    report_connectors,
    run_checks,
    server_span,
)
from services.order import repository as orders
from services.order.commands import cancel_order, place_order
from services.order.domain import InvalidOrderError, Order, OrderLine
from services.order.main import SERVICE as ORDER_SERVICE
from services.order.repository import OrderNotFoundError
from services.order.settings import OrderSettings
from services.order.tables import idempotency_keys
from services.order_api.operations import ops_router
from services.order_api.schemas import CancelIn, OrderIn
from services.order_view import repository as views
from services.order_view.projection import STATUSES, OrderView
from services.order_view.tables import metadata as view_metadata

log = logging.getLogger("order-api")
STATIC_DIR = Path(__file__).parent / "static"
OrderId = Annotated[str, PathParam(min_length=1, max_length=64)]
MinVersion = Annotated[
    int | None,
    Query(ge=1, description="the version your last write produced: the view is pending until it has it"),
]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def problem(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "version": order.version,
        "status": order.status.value,
        "flow": order.flow,
        "points": order.points,
    }


def view_json(view: OrderView) -> dict[str, Any]:
    return {
        "id": view.order_id,
        "status": view.status,
        "customerId": view.customer_id,
        "currency": view.currency,
        "totalCents": view.total_cents,
        "pointsRedeemed": view.points,
        "flow": view.flow,
        "lines": [
            {"sku": line.sku, "quantity": line.quantity, "unitPriceCents": line.unit_price_cents}
            for line in view.lines
        ],
        "stock": {"outcome": view.stock, "reason": view.stock_reason},
        "points": {"outcome": view.points_status, "reason": view.points_reason},
        "payment": {"outcome": view.payment, "paymentId": view.payment_id, "reason": view.payment_reason},
        "cancelReason": view.cancel_reason,
        "versions": dict(view.versions),
        "placedAt": iso(view.placed_at),
        "updatedAt": iso(view.updated_at),
        "timeline": [
            {
                "eventId": e.event_id,
                "aggregateType": e.aggregate_type,
                "version": e.aggregate_version,
                "eventType": e.event_type,
                "occurredAt": iso(e.occurred_at),
                "summary": e.summary,
            }
            for e in view.timeline
        ],
    }


class ApiMetrics:
    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "order_api_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "order_api_request_seconds",
            "HTTP request duration by route",
            ["method", "route"],
            registry=self.registry,
        )
        self.placed = Counter(
            "order_api_orders_placed", "Orders placed through the API", registry=self.registry
        )
        self.replayed = Counter(
            "order_api_idempotent_replays",
            "POSTs answered from an earlier request with the same Idempotency-Key",
            registry=self.registry,
        )
        self.registry.register(
            CdcCollector(lambda: report_connectors(settings, outbox_connectors(), connect_timeout_s=3.0))
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API, connected to order_db and query_db (their tables created if missing)."""
    settings = settings or Settings.load()
    own = OrderSettings.read(settings)  # a wrong value fails the start, not each POST
    configure_tracing("order-api", settings)
    default_flow = own.saga_flow
    order = ORDER_SERVICE.context(settings, migrate=True)
    query_engine = make_engine(settings.db_url("query"))
    create_tables(query_engine, view_metadata)
    keys = IdempotencyKeys(idempotency_keys)
    metrics = ApiMetrics(settings)
    checks = {
        "order_db": check_database(order.engine),
        "query_db": check_database(query_engine),
        "kafka": check_kafka(settings.kafka_bootstrap_servers),
        "registry": check_registry(settings.schema_registry_url),
        "connectors": check_connectors(settings, outbox_connectors()),
    }

    app = FastAPI(
        title="Order API",
        version="1",
        description=(
            "Place and follow orders. Reads come from the read model, which applies events a moment "
            "after they were written: every order says whether its view is `in_sync` or `pending`."
        ),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(ops_router(settings))

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        # Tracing: the request is a span (continuing the caller's traceparent), and the orders
        # it places start their traces in it.
        with server_span(
            f"{request.method} {request.url.path}",
            request.headers,
            {"http.request.method": request.method, "url.path": request.url.path},
        ):
            response: Response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return JSONResponse(
            {
                "error": f"{where}: {first['msg']}",
                "detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors],
            },
            status_code=422,
        )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.post("/orders", status_code=201, summary="Place an order")
    def place(
        body: OrderIn,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Any:
        lines = [OrderLine(line.sku, line.quantity, line.unitPriceCents) for line in body.lines]
        flow = body.flow or default_flow

        def create(remember: Remember | None) -> StoredResponse:
            def also(uow: Any, placed: Order) -> None:
                if remember is not None:
                    remember(uow, StoredResponse(201, order_json(placed)))

            placed = place_order(
                order.uow_factory,
                body.customerId,
                lines,
                body.currency,
                flow=flow,
                also=also,
                points=body.points,
            )
            metrics.placed.inc()
            return StoredResponse(201, order_json(placed))

        try:
            if idempotency_key is None:
                stored = create(None)
            else:
                stored = keys.handle_once(
                    order.uow_factory, valid_key(idempotency_key), body.canonical(), create
                )
        except InvalidIdempotencyKeyError as exc:
            return problem(422, f"header.Idempotency-Key: {exc}")
        except InvalidOrderError as exc:
            return problem(422, f"body.{'points' if str(exc).startswith('points') else 'lines'}: {exc}")
        except KeyReusedError as exc:
            return problem(409, str(exc))
        if stored.replayed:
            metrics.replayed.inc()
            response.headers["Idempotent-Replayed"] = "true"
        response.status_code = stored.status_code
        response.headers["Location"] = f"/orders/{stored.body['id']}"
        return stored.body

    @app.get("/orders", summary="Orders from the read model, newest first")
    def list_orders(
        status: Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Any:
        if status is not None and status not in STATUSES:
            return problem(422, f"query.status: must be one of {', '.join(STATUSES)}, not {status!r}")
        with query_engine.connect() as connection:
            found, total = views.page(connection, status, limit, offset)
        return {
            "orders": [
                {key: value for key, value in view_json(view).items() if key != "timeline"} for view in found
            ],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @app.get("/orders/{order_id}", summary="One order's view and whether it is in sync")
    def get_order(order_id: OrderId, min_version: MinVersion = None) -> Any:
        with query_engine.connect() as connection:
            view = views.read(connection, order_id)
        applied = view.version_of("order") if view else 0
        with order.engine.connect() as connection:
            written = written_for(connection, order.messaging.outbox, "order", order_id, applied)
            if view is None and not written.version and orders.get(connection, order_id) is None:
                return problem(404, f"no order {order_id}")
        try:
            sync = sync_state(applied, written, utc_now(), min_version)
        except VersionNotWrittenError as exc:
            return problem(422, f"query.min_version: {exc}")
        return {"id": order_id, "sync": sync.as_json(), "view": view_json(view) if view else None}

    @app.post("/orders/{order_id}/cancel", summary="Cancel an open order")
    def cancel(order_id: OrderId, body: CancelIn | None = None) -> Any:
        reason = (body or CancelIn()).reason
        try:
            cancelled = cancel_order(order.uow_factory, order_id, reason)
        except OrderNotFoundError:
            return problem(404, f"no order {order_id}")
        except TransitionRefused as refused:
            return problem(409, f"order {order_id} cannot be cancelled: it is {refused.current.value}")
        return order_json(cancelled)

    @app.get("/orders/{order_id}/saga", summary="The order's saga: its state and history")
    def saga(order_id: OrderId) -> Any:
        with order.unit_of_work() as uow:
            found = orders.get(uow.connection, order_id)
            instance = uow.sagas.load(order_id)
            history = orders.saga_history_of(uow.connection, order_id)
        if found is None:
            return problem(404, f"no order {order_id}")
        return {
            "id": order_id,
            "status": found.status.value,
            "flow": found.flow,
            "saga": None
            if instance is None
            else {
                "state": instance.state.value,
                "version": instance.version,
                "stepDeadline": iso(instance.step_deadline),
            },
            "history": [
                {
                    "seq": e.seq,
                    "at": iso(e.at),
                    "trigger": e.trigger_name,
                    "from": e.from_state,
                    "to": e.to_state,
                    "commands": [c for c in e.commands.split(",") if c],
                    "note": e.note,
                }
                for e in history
            ],
        }

    @app.get("/health", summary="Database, Kafka, registry and each connector (streaming, binlog headroom)")
    def health() -> JSONResponse:
        report = run_checks(checks)
        return JSONResponse(report, status_code=503 if report["status"] == "degraded" else 200)

    @app.get("/metrics", summary="Prometheus metrics of this process")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return app
