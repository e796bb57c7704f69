"""The local backend: function instances are processes on this machine.

A Python function's instance is a worker process forked from a zygote that imported the
runtime once (or, with cold-start optimisation, from the function's own zygote that also
imported its module); a WASM function's instance is a pre-instantiated module in this
process. Both serve one invocation at a time behind the
:class:`~constellation.backends.Instance` interface.

:class:`LocalBackend` (``_backend.py``) starts them and allocates a function's GPU
request per instance through the platform's hooks; :class:`WorkerInstance`
(``_instance.py``) talks to one worker over a socketpair (:mod:`constellation._runtime`'s
protocol); ``_zygote_client.py`` holds the zygote processes (:class:`RootZygote`) and
their exit reports (:class:`ExitRegistry`). The Ray backend reuses these on its nodes.
``_sandbox.py`` runs each Python function's zygote in a bubblewrap sandbox of its own
(:func:`detect_isolation` says what this machine allows) and ``_integrity.py`` checks
stored code against its hash before it runs (docs/security.md).
WASM functions use :mod:`constellation.wasm`, imported lazily.
"""

from __future__ import annotations

from ._backend import LocalBackend
from ._instance import SpinGate, WorkerInstance
from ._sandbox import Isolation, detect_isolation
from ._zygote_client import ExitRegistry, RootZygote

__all__ = [
    "ExitRegistry",
    "Isolation",
    "LocalBackend",
    "RootZygote",
    "SpinGate",
    "WorkerInstance",
    "detect_isolation",
]
