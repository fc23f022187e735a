"""ASGI middleware every request to `rag chat` passes, page and API alike: no cross-origin
reads unless configured, and a client that hangs up costs a log line at most."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("rag")


def cors(origins: Sequence[str]) -> Any:
    """Starlette's CORS middleware allowing exactly `origins` (none: no web page of another
    origin may read an answer), in place of Gradio's, which lets any page served from
    localhost read this one's responses."""
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    _gradio_defers()
    return Middleware(CORSMiddleware, allow_origins=list(origins),
                      allow_methods=["GET", "POST"],
                      allow_headers=["authorization", "content-type"],
                      allow_credentials=False)


class HungUp:
    """ASGI middleware: a client that disconnects before its request body has arrived ends
    the request quietly (one debug line), not with a traceback in the server's log."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.requests import ClientDisconnect

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.debug("client hung up during %s %s", scope.get("method"), scope.get("path"))


def _gradio_defers() -> None:
    """Gradio's CORS middleware stands back when an app it is mounted in configures CORS
    (its `parent_configures_cors`); a page it launches itself has no parent, so say that this
    server does. Guarded by tests/test_fail_closed.py: a Gradio that changes this fails it."""
    import gradio.routes
    from gradio.route_utils import CustomCORSMiddleware

    class Deferring(CustomCORSMiddleware):
        def parent_configures_cors(self) -> bool:
            return True

    gradio.routes.CustomCORSMiddleware = Deferring  # type: ignore[misc]
