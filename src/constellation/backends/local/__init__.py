"""The local backend: function instances are processes on this machine.

A Python function's instance is a worker process forked from a zygote that imported the
runtime once (or, with cold-start optimisation, from the function's own zygote that also
imported its module); a WASM function's instance is a pre-instantiated module in this
process. Both serve one invocation at a time behind the :class:`~constellation.backends.
Instance` interface.
"""

from __future__ import annotations

from ._backend import LocalBackend
from ._instance import SpinGate, WorkerInstance
from ._zygote_client import ExitRegistry, RootZygote

__all__ = ["ExitRegistry", "LocalBackend", "RootZygote", "SpinGate", "WorkerInstance"]
