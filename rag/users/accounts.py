"""The users file and logins.

The file (setting `users_file`, or `RAG_USERS_FILE`) is JSON: `{"users": {NAME: {"password":
HASH, "groups": [...], "keys": [{"id": ID, "sha256": HASH, "created": ISO}]}}}`, written whole
(a temporary file renamed over it) with mode 0600. A password is kept as a salted scrypt hash
(stdlib `hashlib.scrypt`, n=2^14, r=8, p=1; 16 random bytes of salt): `scrypt$16384$8$1$SALT$HASH`
in base64. The file is read again when it changes, so `rag user ...` takes effect on a running
server at the next request. A server started with a users file keeps to accounts: a file
emptied, removed or damaged while it runs lets nobody in (fail closed).

An API key (`rag key add --user NAME`) acts as its user. It is 32 random bytes, shown once;
the file keeps its SHA-256 (a key is too random to guess, so no slow hash is needed) and a short
id to name it by.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.errors import RagError
from rag.files import atomic_write
from rag.types import Viewer

N, R, P = 2**14, 8, 1  # scrypt's cost: about 40 ms and 16 MB per check on these machines
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def check_name(name: str, what: str = "user name") -> str:
    """`name` when it is a valid user or group name, else RagError saying what is allowed."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise RagError(f"{what} {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-', "
                       f"starting with a letter or digit")
    return name


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(["scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


_DUMMY = hash_password(secrets.token_hex(8))  # checked for unknown names: the same time taken


@dataclass(frozen=True)
class Key:
    id: str
    sha256: str = field(repr=False)
    created: str = ""


@dataclass(frozen=True)
class User:
    name: str
    groups: frozenset[str] = frozenset()
    password: str = field(default="", repr=False)  # the hash
    keys: tuple[Key, ...] = ()

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.name, self.groups)


class Users:
    """The accounts of one users file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None
        self._users: dict[str, User] = {}

    def all(self) -> dict[str, User]:
        """Every account, read again when the file changed (none when there is no file)."""
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:  # no accounts yet (or the file removed): nobody
                self._seen, self._users = None, {}
                return {}
            except OSError as e:
                raise RagError(f"the users file {self.path} cannot be read "
                               f"({e.strerror or e})") from None
            if self._seen != (st.st_mtime, st.st_size):
                self._users = self._read()
                self._seen = (st.st_mtime, st.st_size)
            return dict(self._users)

    def _read(self) -> dict[str, User]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for u in data["users"].values():  # a group list of anything else reads wrongly
                if not isinstance(u.get("groups", []), list) or \
                        not all(isinstance(g, str) for g in u.get("groups", [])):
                    raise TypeError("groups must be a list of names")
            return {name: User(name, frozenset(u.get("groups", ())), u["password"],
                               tuple(Key(k["id"], k["sha256"], k.get("created", ""))
                                     for k in u.get("keys", ())))
                    for name, u in data["users"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise RagError(f"the users file {self.path} is damaged ({type(e).__name__}: "
                           f"{str(e)[:200]}); restore it from a backup (a server with accounts "
                           f"lets nobody in until then)") from None

    def get(self, name: str) -> User | None:
        return self.all().get(name)

    def check(self, name: str, password: str) -> User | None:
        """The user when the password is theirs; as slow for an unknown name as a known one."""
        user = self.get(name) if isinstance(name, str) else None
        ok = verify_password(password, user.password if user else _DUMMY)
        return user if ok and user is not None else None

    def by_key(self, key: str) -> User | None:
        """The user an API key belongs to, or None (every stored key is compared)."""
        if not isinstance(key, str) or not key:
            return None
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        found = None
        for user in self.all().values():
            for k in user.keys:
                if hmac.compare_digest(k.sha256, digest):
                    found = user
        return found

    # -- changes (the command line) ----------------------------------------------------------
    def add(self, name: str, password: str, groups: Iterable[str] = ()) -> User:
        users = self.all()
        if check_name(name) in users:
            raise RagError(f"user {name} already exists; use `rag user passwd` or "
                           f"`rag user groups`")
        user = User(name, _groups(groups), hash_password(_password(password)))
        self._write({**users, name: user})
        return user

    def remove(self, name: str) -> None:
        users = self.all()
        if name not in users:
            raise RagError(f"no user {name} in {self.path}")
        del users[name]
        self._write(users)

    def passwd(self, name: str, password: str) -> None:
        users = self.all()
        if name not in users:
            raise RagError(f"no user {name} in {self.path}")
        users[name] = replace(users[name], password=hash_password(_password(password)))
        self._write(users)

    def set_groups(self, name: str, groups: Iterable[str]) -> None:
        users = self.all()
        if name not in users:
            raise RagError(f"no user {name} in {self.path}")
        users[name] = replace(users[name], groups=_groups(groups))
        self._write(users)

    def add_key(self, name: str) -> tuple[Key, str]:
        """A new API key for `name`: its record and the key itself (shown once)."""
        users = self.all()
        if name not in users:
            raise RagError(f"no user {name} in {self.path}")
        secret = "rag-" + secrets.token_urlsafe(32)
        key = Key(secrets.token_hex(4), hashlib.sha256(secret.encode()).hexdigest(),
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        users[name] = replace(users[name], keys=(*users[name].keys, key))
        self._write(users)
        return key, secret

    def revoke_key(self, key_id: str) -> str:
        """Revoke the key `key_id`; returns whose it was."""
        users = self.all()
        for user in users.values():
            if any(k.id == key_id for k in user.keys):
                users[user.name] = replace(user, keys=tuple(k for k in user.keys
                                                            if k.id != key_id))
                self._write(users)
                return user.name
        raise RagError(f"no key {key_id} in {self.path}; `rag key list` shows them")

    def _write(self, users: dict[str, User]) -> None:
        data = {"users": {u.name: {"password": u.password, "groups": sorted(u.groups),
                                   **({"keys": [{"id": k.id, "sha256": k.sha256,
                                                 "created": k.created} for k in u.keys]}
                                      if u.keys else {})}
                          for u in sorted(users.values(), key=lambda u: u.name)}}
        try:
            atomic_write(self.path, json.dumps(data, indent=1) + "\n", mode=0o600)
        except OSError as e:
            raise RagError(f"could not write the users file {self.path} "
                           f"({e.strerror or e}); it is unchanged") from None


def _groups(groups: Iterable[str]) -> frozenset[str]:
    return frozenset(check_name(g.strip(), "group name") for g in groups if g.strip())


def _password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise RagError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


class LoginGuard:
    """Slows down guessing: after `free` failed logins within `window` seconds for one user or
    from one address, each further attempt waits `base` seconds, doubling with every failure
    (at most `most`); an attempt during the wait fails at once, even with the right password.
    A successful login clears the user's count (not the address's)."""

    def __init__(self, free: int = 5, window: float = 900.0, base: float = 15.0,
                 most: float = 900.0, clock=time.monotonic) -> None:
        self.free, self.window, self.base, self.most, self.clock = free, window, base, most, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, *keys: str) -> float:
        """Seconds before `keys` (user:NAME, address:IP) may try again; 0 when they may."""
        now = self.clock()
        longest = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.free:
                    delay = min(self.most, self.base * 2 ** (len(times) - self.free))
                    longest = max(longest, times[-1] + delay - now)
        return max(0.0, longest)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # forget quiet keys: the table stays bounded
                for key in [k for k, t in self._failures.items() if not t or
                            now - t[-1] > self.window]:
                    del self._failures[key]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque(maxlen=64))
        while times and now - times[0] > self.window:
            times.popleft()
        return times


def users_of(path: str) -> Users | None:
    """The accounts of the configured users file; None when none is configured."""
    return Users(os.path.expanduser(path)) if path else None
