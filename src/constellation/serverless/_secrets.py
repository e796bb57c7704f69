"""Function environment values, encrypted at rest (the database alone leaks no secret).

A function's ``env`` is stored as ``fernet:<token>``: the JSON of its variables encrypted
with Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``). The key lives in a file
outside the database, ``$CONSTELLATION_HOME/secrets.key`` unless ``secrets_key_file``
says otherwise, created with mode 0600 the first time the platform starts. Values are
decrypted in the platform's memory only, and reach only their own function's workers
(in their sandbox, ``backends.local._sandbox``).

The file holds one key per line, newest first; any of them decrypts, the first encrypts.
:func:`rotate_key` (``constellation secrets rotate-key``) adds a new key, re-encrypts every
function with it in one transaction, then drops the old keys. A running platform notices
a changed key file (by its inode, size and time) before it encrypts and when a token
does not decrypt. Values stored in clear by an older release are encrypted when the
platform opens the store (:meth:`FunctionRegistry`'s start).

An empty environment is stored as ``{}`` (:data:`EMPTY`): there is nothing to hide, and
most functions have none, so saving one costs no encryption (and no import of
``cryptography``).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..store import Store

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

# cryptography (about 9 MB of a process's memory) is imported on the first seal or open,
# not by every platform that starts: one with no function environment never needs it.

__all__ = ["EMPTY", "PREFIX", "SecretBox", "rotate_key"]

PREFIX = "fernet:"
EMPTY = "{}"  # the stored text of an empty environment: no variable, nothing to encrypt


def _write_keys(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically; the new file is 0600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\n".join(keys) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staging, path)


def _read_keys(path: Path) -> list[bytes]:
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise ConfigError("secrets_key_file", f"{path} holds no key")
    return keys


def _new_key() -> bytes:
    """A Fernet key (what ``Fernet.generate_key`` makes), without importing cryptography."""
    return base64.urlsafe_b64encode(os.urandom(32))


def _check_keys(path: Path) -> None:
    """Refuse a key file that Fernet would refuse (32 bytes, url-safe base64 each)."""
    for key in _read_keys(path):
        try:
            ok = len(base64.urlsafe_b64decode(key)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                "secrets_key_file", f"{path}: Fernet key must be 32 url-safe base64-encoded bytes."
            )


class SecretBox:
    """Seals and opens function environments with the keys of one key file."""

    def __init__(self, key_file: Path) -> None:
        self.path = key_file
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._fernet: MultiFernet | None = None
        if not key_file.exists():
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(_new_key() + b"\n")
        _check_keys(key_file)

    def _reload(self) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        with self._lock:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if self._fernet is None or stamp != self._stamp:
                try:
                    self._fernet = MultiFernet([Fernet(k) for k in _read_keys(self.path)])
                except ValueError as exc:
                    raise ConfigError("secrets_key_file", f"{self.path}: {exc}") from None
                self._stamp = stamp
            return self._fernet

    def seal(self, env: dict[str, str]) -> str:
        """The stored text of ``env``."""
        if not env:
            return EMPTY
        token = self._reload().encrypt(json.dumps(env).encode())
        return PREFIX + token.decode()

    def open(self, text: str, function: str = "") -> dict[str, str]:
        """``env`` back from its stored text (text in clear from an older release too)."""
        if not text.startswith(PREFIX):
            return dict(json.loads(text))
        from cryptography.fernet import InvalidToken

        token = text[len(PREFIX) :].encode()
        try:
            return dict(json.loads(self._reload().decrypt(token)))
        except InvalidToken:
            raise ConfigError(
                "secrets_key_file",
                f"the environment of function {function!r} does not decrypt with the keys "
                f"in {self.path}: is it the key file this store was written with?",
            ) from None


def rotate_key(store: Store, key_file: Path) -> int:
    """A new key for every function's environment; returns how many were re-encrypted."""
    from cryptography.fernet import Fernet, MultiFernet

    old = _read_keys(key_file) if key_file.exists() else []
    new = _new_key()
    _write_keys(key_file, [new, *old])  # a running platform can read both meanwhile
    both = MultiFernet([Fernet(k) for k in (new, *old)])
    count = 0
    with store.transaction() as conn:
        rows = conn.execute("SELECT id, env FROM functions WHERE env != ?", (EMPTY,))
        for row in rows.fetchall():
            text: str = row[1]
            if text.startswith(PREFIX):
                token = both.rotate(text[len(PREFIX) :].encode())
            else:
                token = both.encrypt(text.encode())  # clear text from an older release
            conn.execute(
                "UPDATE functions SET env = ? WHERE id = ?", (PREFIX + token.decode(), row[0])
            )
            count += 1
    _write_keys(key_file, [new])
    return count
