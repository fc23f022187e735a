"""People: accounts in a users file (salted scrypt hashes, groups), and a guard that slows down
repeated failed logins. Imports nothing above the basics."""

from rag.users.accounts import LoginGuard, User, Users, check_name

__all__ = ["LoginGuard", "User", "Users", "check_name"]
