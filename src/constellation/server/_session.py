"""The dashboard's login sessions: the API token, given once on the login page, becomes a
random session id in an HttpOnly, SameSite=Strict cookie.

The token itself never goes into a URL, a cookie or a log line; the session id is
worthless outside this process (sessions live in memory, so a restart logs everyone
out). Ids are compared through a dict of their SHA-256, so a lookup takes the same time
whatever the guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["COOKIE", "Sessions", "cookie_value"]

COOKIE = "constellation_session"
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 1000  # the oldest is dropped past this: logins cannot grow memory


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def cookie_value(header: bytes | None) -> str | None:
    """The session id in a ``Cookie`` header, if there is one."""
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


class Sessions:
    """Logged-in browsers: session id (hashed) -> expiry."""

    def __init__(
        self,
        token: str | None,
        ttl_s: float = SESSION_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token  # None: authentication is off, every browser is let in
        self.ttl_s = ttl_s
        self.clock = clock
        self._live: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return self.token is not None

    def login(self, offered: str) -> str | None:
        """A new session id when ``offered`` is the token; None otherwise."""
        if self.token is None:
            return None
        if not hmac.compare_digest(offered.strip().encode(), self.token.encode()):
            return None
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._live[_digest(session_id)] = self.clock() + self.ttl_s
            while len(self._live) > MAX_SESSIONS:
                self._live.popitem(last=False)
        return session_id

    def valid(self, session_id: str | None) -> bool:
        if self.token is None:
            return True
        if not session_id:
            return False
        key = _digest(session_id)
        with self._lock:
            expires = self._live.get(key)
            if expires is None:
                return False
            if expires < self.clock():
                del self._live[key]
                return False
            return True

    def logout(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._live.pop(_digest(session_id), None)

    def set_cookie(self, session_id: str, secure: bool) -> str:
        """The ``Set-Cookie`` value for a new session."""
        flags = "; Secure" if secure else ""
        return f"{COOKIE}={session_id}; Path=/; Max-Age={int(self.ttl_s)}; HttpOnly; SameSite=Strict{flags}"

    @staticmethod
    def clear_cookie() -> str:
        return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
