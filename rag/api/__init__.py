"""Programs reach the documents here: an OpenAI-compatible chat endpoint that keeps the
citations (`/v1/models`, `/v1/chat/completions`, in `chat.py`) and a small REST face with its
OpenAPI schema (`/api/...`, in `rest.py`), on the page's port or alone (`rag chat --no-page`).

Who is calling: with accounts, `Authorization: Bearer KEY` (a key from `rag key add` acts as its
user, under the same access rules as the page); with the one RAG_AUTH login, its password as the
bearer token; with neither (a loopback-only server), anyone. Errors come in OpenAI's JSON shape.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rag.app.library import Library
from rag.types import Reader
from rag.users import Users

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
        return self.users is not None and bool(self.users.all())

    def caller(self, authorization: str | None) -> Reader | None:
        """The Reader of the request's bearer key (None: everything is readable), or 401."""
        token = ""
        if authorization and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        if self.accounts:
            assert self.users is not None
            user = self.users.by_key(token)
            if user is None:
                raise ApiError(401, "a valid API key is needed: Authorization: Bearer KEY "
                                    "(`rag key add --user NAME` makes one)",
                               "invalid_request_error", code="invalid_api_key")
            return user.reader
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
