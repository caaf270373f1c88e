"""The table of handlers by Rekognition's operation name, filled by @operation as each operation
module is imported (the package's load_all imports them all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faceindex.service.context import RequestContext

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under Rekognition's operation name."""

    def register(handler: Handler) -> Handler:
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name} registered twice")
        OPERATIONS[name] = handler
        return handler

    return register
