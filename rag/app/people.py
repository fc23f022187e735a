"""Who is visiting the page: the signed-in person and their groups (`Visitors`), the login
checks (the users file, or the one RAG_AUTH login), and the rule that nobody serves documents
beyond this machine without a login. The form and sessions are `rag.app.login`'s."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Callable
from typing import Any

from rag.errors import AccessError, RagError
from rag.types import Viewer
from rag.users import LoginGuard, User, Users

log = logging.getLogger("rag")


class Visitors:
    """Who is asking. With accounts (a users file configured), each request's signed-in user
    and the groups they are in; otherwise (no login, or the one RAG_AUTH login) everyone reads
    every document. What the page shows before anyone signs in is what every user may read.

    Whether there are accounts is decided once, from the configuration: a users file that is
    emptied, removed or damaged while the server runs lets nobody in, never everybody."""

    def __init__(self, users: Users | None = None) -> None:
        self.users = users

    @property
    def accounts(self) -> bool:
        return self.users is not None  # configured, whatever the file holds now

    def viewer(self, username: str | None) -> Viewer | None:
        """The Viewer of a request's user (None: no accounts, everything is readable), or
        RagError: an unknown user, or accounts that cannot be read."""
        if self.users is None:
            return None
        user = signed_in(self.users, username or "")
        if user is None:  # removed since signing in, or the file emptied or removed
            raise RagError("this account no longer exists; sign in again")
        return user.viewer

    @property
    def anyone(self) -> Viewer | None:
        """What every signed-in user may read (for what the page holds before a login)."""
        return Viewer("") if self.accounts else None


def signed_in(users: Users, name: str) -> User | None:
    """The account `name`, or None; a users file that cannot be read is logged and lets
    nobody in (AccessError), whatever the request."""
    try:
        return users.get(name)
    except RagError as e:
        log.error("refused a request: %s", e)
        raise AccessError(f"accounts cannot be read on this server; nobody is let in until "
                          f"an administrator restores {users.path.name}") from None


def refused(gr: Any, e: Exception) -> Exception:
    """A visitor's mistake (a collection that is not there, a bad `k`) as Gradio's error for
    them, logged in one line instead of Gradio's traceback."""
    log.info("refused a page request: %s", e)
    return gr.Error(str(e), print_exception=False)


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """`"user:password"` (as in RAG_AUTH) to credentials; None when no login is wanted."""
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not (sep and user and password):
        raise RagError("RAG_AUTH must look like user:password")
    return user, password


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False


def check_exposure(host: str, share: bool, auth: str | None, accounts: bool = False) -> None:
    """Refuse to serve beyond this machine without a login."""
    if (share or not is_loopback(host)) and not (auth or accounts):
        where = "through a share link" if share else f"on {host}"
        raise RagError(f"serving {where} makes the documents reachable from other machines; "
                       f"add users (`rag user add`) or set RAG_AUTH=user:password to require "
                       f"a login")


def login_check(users: Users, guard: LoginGuard | None = None) -> Callable[[str, str], bool]:
    """The accounts' login check: the password of a user who is not waiting out failed
    attempts (`guard`, per name; the login form guards each address too)."""
    guard = guard or LoginGuard()

    def check(name: str, password: str) -> bool:
        if guard.wait(f"user:{name}") > 0:
            return False  # not counted: a wait is not a guess
        try:
            user = users.check(name, password)
        except RagError as e:  # a damaged users file: nobody signs in
            log.error("refused a login: %s", e)
            return False
        if user is None:
            guard.failed(f"user:{name}")
            return False
        guard.succeeded(f"user:{name}")
        return True

    return check


def one_login(auth: str | None) -> Callable[[str, str], bool] | None:
    """The check of the one RAG_AUTH login ("user:password"); None when no login is wanted."""
    credentials = parse_auth(auth)
    if credentials is None:
        return None
    want = [c.encode() for c in credentials]

    def check(name: str, password: str) -> bool:
        # Both compared in constant time, and both always: no early exit to time.
        same_name = secrets.compare_digest(name.encode(), want[0])
        return secrets.compare_digest(password.encode(), want[1]) and same_name

    return check
