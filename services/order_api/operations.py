"""``/ops``: the operations view of the whole pipeline (outboxkit.operations.view), for the services of
this project, with the dead letters' re-injection (the same rules as ``dlq reinject``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from outboxkit import Settings, service_definitions
from outboxkit.ops import (
    DeadLetterSelectionError,
    OperatedGroup,
    OperationsView,
    outbox_connectors,
    retry_topic_for,
)

STATIC_DIR = Path(__file__).parent / "static"


class ReinjectIn(BaseModel):
    """Exactly one of: a key's pending records, an event (and the rest of its key's queue), all."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    eventId: str | None = None
    all: bool = False


def operated_groups(settings: Settings) -> list[OperatedGroup]:
    groups = []
    for definition in service_definitions():
        context = definition.context(settings)
        groups.append(
            OperatedGroup(
                definition.group_id,
                [*definition.topics, retry_topic_for(definition.group_id)],
                context.engine,
                definition.database_name,
                context.messaging.dead_letters,
                context.messaging.outbox,
            )
        )
    return groups


def ops_router(settings: Settings) -> APIRouter:
    view = OperationsView(settings, operated_groups(settings), outbox_connectors())
    router = APIRouter()

    @router.get("/ops", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "ops.html")

    @router.get("/ops/state", summary="Connectors, consumer groups, outboxes and dead letters")
    def state() -> Any:
        return view.snapshot()

    @router.post("/ops/dead-letters/{group}/reinject", summary="Re-inject a group's dead letters")
    def reinject(group: Annotated[str, PathParam(max_length=128)], body: ReinjectIn) -> Any:
        if group not in view.groups:
            return JSONResponse(
                {"error": f"no consumer group {group} (known: {', '.join(view.groups)})"}, status_code=404
            )
        chosen = [
            name for name, given in (("key", body.key), ("eventId", body.eventId), ("all", body.all)) if given
        ]
        if len(chosen) != 1:
            return JSONResponse({"error": "body: give exactly one of key, eventId or all"}, status_code=422)
        try:
            return view.reinject(group, key=body.key, event_id=body.eventId, everything=body.all)
        except DeadLetterSelectionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    return router
