"""The local backend: instances are processes forked from zygotes on this machine.

It lives with the serverless core (:mod:`constellation.serverless._launcher`), which it
is part of; this module names it beside :mod:`constellation.backends.ray`.
"""

from __future__ import annotations

from ..serverless._launcher import Launcher as LocalBackend

__all__ = ["LocalBackend"]
