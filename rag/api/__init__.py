"""Programs reach the documents here: an OpenAI-compatible chat endpoint that keeps the
citations (`/v1/models`, `/v1/chat/completions`, in `chat.py`) and a small REST face with its
OpenAPI schema (`/api/...`, in `rest.py`), on the page's port or alone (`rag chat --no-page`).

Who is calling: with accounts, `Authorization: Bearer KEY` (a key from `rag key add` acts as its
user, under the same access rules as the page); with the one RAG_AUTH login, its password as the
bearer token; with neither (a loopback-only server), anyone. A server started with a users file
keeps to accounts while it runs: emptied or removed, nobody's key is good (401); unreadable,
every call gets 503 until it is restored. Errors come in OpenAI's JSON shape.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from rag.app.library import Library
from rag.errors import RagError
from rag.types import Viewer
from rag.users import Users

log = logging.getLogger("rag")

WAITING = 64  # requests that may wait for a worker beyond those being answered (as the page)


class ApiError(Exception):
    """An error a client gets as OpenAI's `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = (status, message, kind,
                                                                       param, code)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}


class Json(JSONResponse):
    """A JSON response that cannot fail to encode: text that is not valid Unicode (a lone
    surrogate echoed from a request) is escaped, not a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8", "backslashreplace")


async def read_json(request: Request) -> Any:
    """The request's JSON body, or 400: not JSON, nested too deep, or holding text that is
    not valid Unicode."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not JSON (or is nested too deeply)") from None
    stack = [body]
    while stack:  # iterative: a deep body must not exhaust the stack here either
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and not _unicode(item):
            raise ApiError(400, "the body holds text that is not valid Unicode (a lone "
                                "surrogate)")
    return body


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Gate:
    """Who may call, and how many calls may be under way at once."""

    library: Library
    users: Users | None = None
    password: str | None = None  # the RAG_AUTH password, without accounts
    concurrency: int = 4
    _busy: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _slots: threading.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.Semaphore(self.concurrency)  # answers computed at once

    @property
    def accounts(self) -> bool:
        """A users file configured: a file that vanishes later lets nobody in, never
        everybody (its contents are never asked here)."""
        return self.users is not None

    def caller(self, authorization: str | None) -> Viewer | None:
        """The Viewer of the request's bearer key (None: everything is readable), or 401."""
        token = ""
        if authorization and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        if self.users is not None:
            try:
                user = self.users.by_key(token)
            except RagError as e:  # a damaged users file: closed to everyone
                log.error("refused an API call: %s", e)
                raise ApiError(503, "accounts cannot be read on this server; nobody is let in "
                                    "until an administrator restores the users file",
                               "server_error", code="accounts_unavailable") from None
            if user is None:
                raise ApiError(401, "a valid API key is needed: Authorization: Bearer KEY "
                                    "(`rag key add --user NAME` makes one)",
                               "invalid_request_error", code="invalid_api_key")
            return user.viewer
        if self.password is not None and not hmac.compare_digest(token.encode(),
                                                                 self.password.encode()):
            raise ApiError(401, "this server needs a login: Authorization: Bearer PASSWORD "
                                "(the password of RAG_AUTH)", code="invalid_api_key")
        return None

    def enter(self) -> None:
        """Count a call in, or 429 when as many as the server takes are under way."""
        limit = self.concurrency + WAITING
        with self._lock:
            if self._busy >= limit:
                raise ApiError(429, f"the server is answering {limit} requests already "
                                    f"({self.concurrency} at once, {WAITING} waiting); retry "
                                    f"shortly", "rate_limit_error", code="rate_limit_exceeded")
            self._busy += 1

    def leave(self) -> None:
        with self._lock:
            self._busy -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of the `concurrency` workers, waited for (callers beyond them queue)."""
        with self._slots:
            yield
