"""Bearer-token authentication for the management API.

The token lives in ``$CONSTELLATION_HOME/server.token`` with mode 0600. It is made on
the first start of the server (the caller prints it once) and shown again by
``constellation token``. Requests to ``/api/v1`` carry ``Authorization: Bearer <token>``;
comparison is constant-time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from ._errors import InsecureBindError

__all__ = [
    "TOKEN_FILE",
    "check_bearer",
    "check_bind",
    "ensure_token",
    "is_loopback",
    "read_token",
    "token_path",
]

TOKEN_FILE = "server.token"


def token_path(home: Path) -> Path:
    return Path(home) / TOKEN_FILE


def read_token(home: Path) -> str | None:
    path = token_path(home)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def ensure_token(home: Path) -> tuple[str, bool]:
    """The token, and whether it was created now. Created atomically with mode 0600."""
    existing = read_token(home)
    if existing is not None:
        return existing, False
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    token = "cst_" + secrets.token_urlsafe(32)
    path = token_path(home)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its token
        return read_token(home) or token, False
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token, True


def check_bearer(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: bool) -> None:
    if not auth and not is_loopback(host):
        raise InsecureBindError(
            "host",
            f"--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), "
            f"not {host!r}",
        )
