"""The interface every runtime's instance offers (one thin wrapper per native handle)."""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from ._errors import WasmClosedError, WasmStateError, WasmTrap
from ._limits import ResourceLimits
from ._module import WasmModule
from ._values import WasmValue

__all__ = ["WasmInstance", "new_instance_id"]

_ids = itertools.count(1)


def new_instance_id() -> str:
    return f"wasm-{next(_ids)}"


class WasmInstance(ABC):
    """One sandboxed instance of a module. Calls on one instance are serialised.

    ``close()`` is idempotent and the instance is a context manager. After a trap the
    instance refuses calls (``WasmStateError``) until a snapshot is restored into it.
    """

    runtime: str = "?"

    def __init__(self, module: WasmModule, instance_id: str | None = None) -> None:
        self.id = instance_id or new_instance_id()
        self.module = module
        self.limits = ResourceLimits()
        self.gas_limit: int | None = None
        self.trap: WasmTrap | None = None  # the trap that stopped it, if any
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------
    @property
    def module_id(self) -> str:
        return self.module.id

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def trapped(self) -> bool:
        return self.trap is not None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()

    def __enter__(self) -> WasmInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("trapped" if self.trap else "ready")
        return (
            f"<{type(self).__name__} {self.id} {self.runtime} module={self.module.id[:12]} {state}>"
        )

    def _check_usable(self) -> None:
        if self._closed:
            raise WasmClosedError(f"instance {self.id} is closed")
        if self.trap is not None:
            raise WasmStateError(
                f"instance {self.id} trapped ({self.trap.code}); restore a snapshot into it "
                "or create a new instance"
            )

    # -- the runtime-specific part ------------------------------------------------
    @abstractmethod
    def _release(self) -> None: ...

    @abstractmethod
    def call(self, name: str, params: Sequence[object] | None = None) -> list[WasmValue]:
        """Call the exported function ``name``; return its results, typed."""

    @abstractmethod
    def set_limits(self, limits: ResourceLimits) -> None: ...

    @abstractmethod
    def set_gas_limit(self, gas: int | None) -> None: ...

    @property
    @abstractmethod
    def gas_used(self) -> int: ...

    @property
    @abstractmethod
    def memory_size(self) -> int:
        """Bytes of linear memory (0 for a module without memory)."""
