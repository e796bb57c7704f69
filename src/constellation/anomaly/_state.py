"""Detectors' learnt state in the platform's store (table ``anomaly_detectors``).

A restarted platform should not relearn what its detectors knew: each detector's
state (its filter and detector objects: windows, moments, bitmaps, forests, models) is
saved as one bounded blob per (metric, method) when the registry shuts down and every
``baseline_interval_s`` while it runs, and restored when a detector with the same
metric, method, sensitivity and options is created again (as the platform's default
detectors are, on the first point of each series).

The blob is a zlib-compressed pickle read back by an unpickler that only builds the
classes of this package, numpy arrays and a few standard containers, so a tampered
row cannot run code. A state larger than :data:`MAX_STATE_BYTES` is not saved.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import zlib
from typing import Any

from ..store import Store

__all__ = ["MAX_STATE_BYTES", "DetectorStates"]

log = logging.getLogger("constellation.anomaly")

MAX_STATE_BYTES = 1 << 20  # 1 MiB compressed; the largest default detector is ~100 KiB

_ALLOWED_MODULES = ("constellation.anomaly.",)
_ALLOWED = {
    ("builtins", "bytearray"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("collections", "deque"),
    ("array", "array"),
    ("array", "_array_reconstructor"),
    ("random", "Random"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_ALLOWED_MODULES) or (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a detector state")


def _options_key(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True, default=str)


class DetectorStates:
    """Saves and restores :class:`MetricDetector` states through a shared :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, handle: Any, now: float) -> bool:
        """Write ``handle``'s state; False (and nothing written) when it is too large."""
        model = handle._filter or handle._pair or handle._multi
        state = {
            "model": model,
            "points": handle.points,
            "last_timestamp": handle.last_timestamp,
            "last_score": handle.last_score,
        }
        blob = zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 6)
        if len(blob) > MAX_STATE_BYTES:
            log.warning("anomaly: state of %s is %d bytes; not saved", handle.metric, len(blob))
            return False
        self.store.execute(
            "INSERT INTO anomaly_detectors (metric, method, sensitivity, options, service_name,"
            " points, state, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(metric, method) DO UPDATE SET sensitivity = excluded.sensitivity,"
            " options = excluded.options, service_name = excluded.service_name,"
            " points = excluded.points, state = excluded.state, saved_at = excluded.saved_at",
            (
                handle.metric,
                handle.method,
                handle.sensitivity,
                _options_key(handle.options),
                handle.service_name,
                handle.points,
                blob,
                now,
            ),
        )
        return True

    def restore(self, handle: Any) -> bool:
        """Load the saved state into a new ``handle`` when one matches; True if it did."""
        row = self.store.query_one(
            "SELECT sensitivity, options, state FROM anomaly_detectors"
            " WHERE metric = ? AND method = ?",
            (handle.metric, handle.method),
        )
        if row is None:
            return False
        if row["sensitivity"] != handle.sensitivity or row["options"] != _options_key(
            handle.options
        ):
            return False  # configured differently now: start afresh
        try:
            state = _SafeUnpickler(io.BytesIO(zlib.decompress(row["state"]))).load()
            model = state["model"]
        except Exception as exc:  # a corrupt or foreign row: start afresh, say so
            log.warning("anomaly: state of %s not restored: %s", handle.metric, exc)
            return False
        current = handle._filter or handle._pair or handle._multi
        if type(model) is not type(current) or (
            hasattr(current, "detector") and type(model.detector) is not type(current.detector)
        ):
            return False
        if handle._filter is not None:
            handle._filter = model
        elif handle._pair is not None:
            handle._pair = model
        else:
            handle._multi = model
        handle.points = int(state["points"])
        handle.last_timestamp = state["last_timestamp"]
        handle.last_score = float(state["last_score"])
        return True

    def delete(self, metric: str, method: str) -> None:
        self.store.execute(
            "DELETE FROM anomaly_detectors WHERE metric = ? AND method = ?", (metric, method)
        )
