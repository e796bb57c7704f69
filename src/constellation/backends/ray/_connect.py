"""Joining a Ray cluster, or starting a local one, with errors a user can act on.

``ray.init`` on an address that answers nothing may wait a long time, so a TCP probe
(at most :data:`PROBE_TIMEOUT_S`) runs first, and the join itself runs in a thread that
is given up on when the whole has taken :data:`JOIN_TIMEOUT_S`: an address that accepts
a connection but is no Ray cluster fails as fast as one that refuses it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import ModuleType
from typing import Any

from .._errors import BackendNotInstalled, BackendUnreachable

__all__ = ["acquire", "import_ray", "join", "parse_address", "release"]

PROBE_TIMEOUT_S = 5.0
JOIN_TIMEOUT_S = 8.0  # probe and handshake together: an answer within 10 s
RAY_CLIENT_PORT = 10001
RAY_GCS_PORT = 6379
INSTALL_HINT = "pip install 'constellation[ray]'"


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as exc:
        raise BackendNotInstalled(
            f"the ray backend needs Ray, which is not installed ({exc}): {INSTALL_HINT}"
        ) from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) to probe; None for "" (start Ray here) and "auto" (find one)."""
    if address in ("", "auto", "local"):
        return None
    client = address.startswith("ray://")
    rest = address[len("ray://") :] if client else address
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host, port_text = rest, str(RAY_CLIENT_PORT if client else RAY_GCS_PORT)
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BackendUnreachable(
            f"ray_address {address!r} is not an address; use '' (start a local Ray), "
            "'auto', 'HOST:PORT' or 'ray://HOST:10001'"
        )
    return host, int(port_text)


def _probe(address: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise BackendUnreachable(
            f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc} "
            f"(is `ray start --head` running there, and is port {port} open?)"
        ) from None


def join(ray: ModuleType, address: str, **init_options: Any) -> bool:
    """Connect this process to Ray; True when it started a local Ray itself.

    A process already connected (``ray.init`` was called, by a test or by the user's own
    code) keeps that connection.
    """
    if ray.is_initialized():
        return False
    target = parse_address(address)
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    options.update(init_options)
    if address in ("", "local"):
        options.setdefault("include_dashboard", False)
        # "local" explicitly: with no address Ray joins whatever cluster was last started
        # on this machine (another process's), which is not what "" promises.
        ray.init(address="local", **options)
        return True
    started = time.monotonic()
    if target is not None:
        _probe(address, *target)
    _init_within(ray, address, JOIN_TIMEOUT_S - (time.monotonic() - started), options)
    return False


def _init_within(ray: ModuleType, address: str, timeout: float, options: dict[str, Any]) -> None:
    outcome: dict[str, BaseException | None] = {}

    def attempt() -> None:
        try:
            ray.init(address=address, **options)
            outcome["error"] = None
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, name="ray-join", daemon=True)
    thread.start()
    thread.join(max(timeout, 0.1))
    if "error" not in outcome:
        raise BackendUnreachable(
            f"the Ray cluster at {address!r} did not answer within {JOIN_TIMEOUT_S:g} s "
            "(is it a Ray head, and does its Ray version match?)"
        )
    error = outcome["error"]
    if error is not None:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise BackendUnreachable(f"cannot join the Ray cluster at {address!r}: {detail}")


# One Ray connection per process, shared by the function backend and the deployment
# backend; a local Ray started here is shut down when its last user lets go.
_users = 0
_started_here = False
_lock = threading.Lock()


def acquire(address: str) -> ModuleType:
    """Ray, joined to ``address`` (or to the cluster this process already joined)."""
    global _users, _started_here
    ray = import_ray()
    with _lock:
        if _users == 0 or not ray.is_initialized():
            _started_here = join(ray, address)
        _users += 1
    return ray


def release() -> None:
    """One user is done; the last one shuts down a Ray that this process started."""
    global _users, _started_here
    with _lock:
        _users = max(0, _users - 1)
        if _users or not _started_here:
            return
        _started_here = False
    import ray

    ray.shutdown()
