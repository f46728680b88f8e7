"""Builds the order service's context: its tables in order_db and the registry contracts."""

from __future__ import annotations

from eventcore.bootstrap import ServiceContext, build_context
from eventcore.settings import Settings
from services.order.tables import metadata

SERVICE = "order"


def build(settings: Settings | None = None) -> ServiceContext:
    return build_context(SERVICE, metadata, settings)
