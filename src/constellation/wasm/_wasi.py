"""WASI for an instance: argv, environment, preopened directories, captured stdio.

A guest sees only what is listed here. Each preopen maps a guest path to a host
directory, read-only unless ``"rw"`` is asked for; nothing else of the host file system
is reachable (wasmtime's WASI resolves every path inside its preopen and refuses ``..``
and symlinks that leave it). stdout and stderr go to in-memory buffers capped at
``capture_bytes`` (the rest is dropped and ``truncated`` says so); stdin is fed from bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from ._errors import WasmValidationError

__all__ = ["WasiCapture", "WasiOptions", "WasiResult"]

_MODES = ("ro", "rw")


@dataclass(frozen=True)
class WasiOptions:
    """What a WASI guest may see. ``preopens`` maps guest path -> host dir or (dir, mode)."""

    argv: tuple[str, ...] = ("main",)
    env: Mapping[str, str] = field(default_factory=dict)
    preopens: Mapping[str, object] = field(default_factory=dict)
    stdin: bytes = b""
    capture_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if isinstance(self.argv, str) or not isinstance(self.argv, Sequence):
            raise WasmValidationError("argv", f"{self.argv!r} is not a list of strings")
        if not all(isinstance(a, str) and "\0" not in a for a in self.argv):
            raise WasmValidationError("argv", "every argument must be a string without NUL")
        object.__setattr__(self, "argv", tuple(self.argv))
        if not isinstance(self.env, Mapping):
            raise WasmValidationError("env", f"{self.env!r} is not a mapping of str to str")
        for k, v in self.env.items():
            if not isinstance(k, str) or not isinstance(v, str) or "=" in k or not k:
                raise WasmValidationError("env", f"{k!r}={v!r}: names and values are strings")
        if not isinstance(self.preopens, Mapping):
            raise WasmValidationError("preopens", "expected a mapping guest path -> host dir")
        for guest, spec in self.preopens.items():
            self._check_preopen(guest, spec)
        if not isinstance(self.stdin, bytes | bytearray):
            raise WasmValidationError("stdin", "expected bytes")
        if isinstance(self.capture_bytes, bool) or not isinstance(self.capture_bytes, int):
            raise WasmValidationError("capture_bytes", "expected an integer")
        if not 0 <= self.capture_bytes <= 64 * 1024 * 1024:
            raise WasmValidationError.range("capture_bytes", self.capture_bytes, 0, 64 << 20)

    @staticmethod
    def _check_preopen(guest: object, spec: object) -> tuple[Path, str]:
        field_name = f"preopens[{guest!r}]"
        if not isinstance(guest, str) or not guest:
            raise WasmValidationError("preopens", f"{guest!r} is not a guest path")
        host, mode = (spec, "ro") if not isinstance(spec, tuple | list) else (*spec,)
        if mode not in _MODES:
            raise WasmValidationError.choice(f"{field_name}.mode", mode, _MODES)
        if not isinstance(host, str | os.PathLike) or not Path(host).is_dir():
            raise WasmValidationError(field_name, f"{host!r} is not a directory on the host")
        return Path(host).resolve(), mode

    @classmethod
    def from_value(cls, value: object) -> WasiOptions:
        if isinstance(value, WasiOptions):
            return value
        if value is True:
            return cls()
        if not isinstance(value, Mapping):
            raise WasmValidationError("wasi", f"{value!r} is not a mapping of WASI options")
        known = [f for f in cls.__dataclass_fields__]
        for key in value:
            if key not in known:
                raise WasmValidationError.choice("wasi", key, known)
        return cls(**dict(value))

    def configure(self) -> tuple[wasmtime.WasiConfig, WasiCapture]:
        """A wasmtime WasiConfig for one store, and the buffers its output lands in."""
        config = wasmtime.WasiConfig()
        config.argv = list(self.argv)
        config.env = list(self.env.items())
        for guest, spec in self.preopens.items():
            host, mode = self._check_preopen(guest, spec)
            config.preopen_dir(str(host), guest, fs_mutable=(mode == "rw"))
        capture = WasiCapture(self.capture_bytes)
        config.stdout_custom = capture.out.write
        config.stderr_custom = capture.err.write
        if self.stdin:
            capture.stdin_file = _stdin_file(bytes(self.stdin))
            config.stdin_file = capture.stdin_file
        return config, capture


class _Buffer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    def write(self, data: bytes) -> int:
        # Report every byte as written even past the cap: a short count makes the guest
        # retry the rest forever.
        size = len(data)
        room = self.limit - self.size
        if size > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if data:
            self.chunks.append(data)
            self.size += len(data)
        return size

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks, self.size = [], 0
        return out


class WasiCapture:
    """stdout/stderr buffers of one store, and the temporary stdin file if any."""

    def __init__(self, limit: int) -> None:
        self.out = _Buffer(limit)
        self.err = _Buffer(limit)
        self.stdin_file: str | None = None

    def close(self) -> None:
        if self.stdin_file is not None:
            Path(self.stdin_file).unlink(missing_ok=True)
            self.stdin_file = None


def _stdin_file(data: bytes) -> str:
    # wasmtime's WasiConfig reads stdin from a file only; the file is removed on close.
    fd, path = tempfile.mkstemp(prefix="cst-wasi-stdin-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


@dataclass(frozen=True)
class WasiResult:
    """The outcome of running a WASI command (its ``_start``)."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    gas_used: int | None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
