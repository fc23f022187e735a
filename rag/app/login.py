"""Signing in to the page: a login form of the product's own, sessions kept on the server behind
an HttpOnly cookie, and Gradio told who is asking through its public `auth_dependency` hook.

The cookie holds only a random session id; the name it stands for lives in this process, so
logging out (or a restart) ends the session wherever the cookie was copied to."""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Callable
from typing import Any

from rag.cache import LRU
from rag.users import LoginGuard

COOKIE = "rag-session"
SESSION_SECONDS = 7 * 24 * 3600  # a session lasts a week from signing in
MOST_SESSIONS = 10_000  # the oldest unused session goes first beyond this

Check = Callable[[str, str], bool]  # (name, password) -> whether they may sign in


class Login:
    """The page's login. `check` says whether a name and password sign in; `guard` slows down
    guessing, per name and per connecting address (behind a proxy, the proxy's)."""

    def __init__(self, check: Check, guard: LoginGuard | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.check, self.guard, self.clock = check, guard or LoginGuard(), clock
        self._sessions: LRU[str, tuple[str, float]] = LRU(MOST_SESSIONS)

    def user(self, request: Any) -> str | None:
        """The signed-in name of a request, or None (Gradio's `auth_dependency`)."""
        return self._user(request.cookies.get(COOKIE))

    def _user(self, sid: str | None) -> str | None:
        found = self._sessions.get(sid) if sid else None
        if found is None or found[1] < self.clock():
            return None
        return found[0]

    def routes(self) -> list[Any]:
        """GET/POST /login and GET /logout, served ahead of Gradio's own."""
        from starlette.routing import Route

        return [Route("/login", self._form, methods=["GET"]),
                Route("/login", self._sign_in, methods=["POST"]),
                Route("/logout", self._sign_out, methods=["GET"])]

    def middleware(self) -> Any:
        """Sends a visitor who is not signed in from the page to the login form."""
        from starlette.middleware import Middleware

        return Middleware(SignInFirst, login=self)

    async def _form(self, request: Any) -> Any:
        return _page()

    async def _sign_in(self, request: Any) -> Any:
        from starlette.responses import JSONResponse, RedirectResponse

        address = f"address:{request.client.host if request.client else '?'}"
        wait = self.guard.wait(address)
        if wait > 0:
            return _page(f"Too many failed logins; try again in {int(wait) + 1} s.", 429,
                         {"retry-after": str(int(wait) + 1)})
        form = await request.form()
        name = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        if not (name and password and self.check(name, password)):
            self.guard.failed(address)
            return _page("Wrong name or password.", 401)
        sid = secrets.token_urlsafe(32)
        self._sessions.put(sid, (name, self.clock() + SESSION_SECONDS))
        # A browser's form goes on to the page; a program (gradio_client) reads a 200.
        browser = "text/html" in request.headers.get("accept", "")
        response = RedirectResponse("./", status_code=303) if browser else \
            JSONResponse({"success": True})
        response.set_cookie(COOKIE, sid, max_age=SESSION_SECONDS, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    async def _sign_out(self, request: Any) -> Any:
        from starlette.responses import RedirectResponse

        sid = request.cookies.get(COOKIE)
        if sid:
            self._sessions.put(sid, ("", 0.0))  # expired at once; the LRU drops it in time
        response = RedirectResponse("login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


class SignInFirst:
    """ASGI middleware: the page itself (GET /) sends a visitor without a session to /login.
    Everything else Gradio serves answers 401 on its own (`auth_dependency`)."""

    def __init__(self, app: Any, login: Login) -> None:
        self.app, self.login = app, login

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET" and scope["path"] == "/" \
                and self.login._user(_cookie(scope)) is None:
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", b"login"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def _cookie(scope: dict) -> str | None:
    from starlette.requests import HTTPConnection

    return HTTPConnection(scope).cookies.get(COOKIE)


def _page(error: str = "", status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import HTMLResponse

    note = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(FORM.replace("{note}", note), status_code=status, headers=headers)


FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: ui-sans-serif, system-ui, sans-serif; display: grid; place-items: center;
       min-height: 90vh; margin: 0; }
form { display: grid; gap: .6rem; min-width: 18rem; }
input, button { font: inherit; padding: .45rem .6rem; }
[role=alert] { color: #b42318; margin: 0; }
</style></head>
<body><form method="post" action="login">
<h1>Log in</h1>{note}
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form></body></html>
"""
