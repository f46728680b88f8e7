"""The services of the order flow. Each owns one database and emits one aggregate's events."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventcore.bootstrap import ServiceContext
    from eventcore.settings import Settings

SERVICE_NAMES = ("order", "inventory", "payment")
# What each service writes to its outbox: its aggregate's events, and the orchestrator's commands.
EMITS = {"order": ("order", "inventory.commands", "payment.commands"), "inventory": ("inventory",),
         "payment": ("payment",)}


def build_all(settings: Settings, migrate: bool = True) -> dict[str, ServiceContext]:
    """Every service's context, tables created and schemas registered (for demos and tests)."""
    from eventcore.bootstrap import build_context
    from services.inventory.tables import metadata as inventory
    from services.order.tables import metadata as order
    from services.payment.tables import metadata as payment

    metadata = {"order": order, "inventory": inventory, "payment": payment}
    contexts = {name: build_context(name, metadata[name], settings, emits=EMITS[name])
                for name in SERVICE_NAMES}
    if migrate:
        for context in contexts.values():
            context.migrate()
    return contexts
