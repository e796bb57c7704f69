"""The process-wide default platform's slot, in the base layer.

The seed's module-level API (``serverless.create_function``, ``anomaly.detect``,
``triggers.publish`` without a store) acts on one platform per process. The platform is
the composition root and imports every capability, so a capability may not import it
back: it asks this slot instead. The root registers its factory here when
``constellation.platform`` is imported; :func:`default_platform` imports that module by
name on first use when nothing has registered yet (a script that only imported
``constellation.serverless``), which is the one place the base layer names the root.

What the slot holds is a ``constellation.platform.Constellation``; it is typed ``Any``
here because naming that class would make the base layer depend on the root.
"""

from __future__ import annotations

import atexit
import importlib
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "adopt_default_platform",
    "current_default_platform",
    "default_platform",
    "register_platform_factory",
    "reset_default_platform",
]

_ROOT = "constellation.platform"  # registers its factory when imported

_lock = threading.Lock()
_factory: Callable[[], Any] | None = None
_default: Any = None


def register_platform_factory(factory: Callable[[], Any]) -> None:
    """Say how to make the default platform (the composition root does, once)."""
    global _factory
    with _lock:
        _factory = factory


def _open(platform: Any) -> bool:
    return platform is not None and not platform.closed


def default_platform() -> Any:
    """The default platform: made on first use (after a close, a new one) and closed at
    interpreter exit."""
    global _default
    if _factory is None:
        importlib.import_module(_ROOT)
    with _lock:
        if not _open(_default):
            if _factory is None:
                raise RuntimeError(f"{_ROOT} registered no platform factory")
            _default = _factory()
            atexit.register(_default.close)
        return _default


def current_default_platform() -> Any:
    """The default platform if one is open; None otherwise (makes nothing)."""
    with _lock:
        return _default if _open(_default) else None


def adopt_default_platform(platform: Any) -> None:
    """Make ``platform`` the default when none is open (a server's own platform)."""
    global _default
    with _lock:
        if not _open(_default):
            _default = platform


def reset_default_platform() -> None:
    """Close the default platform; the next module-level call makes a new one."""
    global _default
    with _lock:
        platform, _default = _default, None
    if platform is not None:
        platform.close()
