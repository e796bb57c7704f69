"""Stored code is what was deployed: its files still hash to the name of their folder.

The serverless code store keeps each deployed copy under ``code/<sha256>/``, the hash
of the source as it was deployed (``serverless._codestore.snapshot_code``). Before a
zygote or an instance starts from it, :class:`CodeVerifier` hashes the folder again the
same way and refuses a mismatch: code that a process changed after deploy never runs.
The stored tree does not record which of the store's layouts it came from (one file, a
package folder, a folder of modules), so each layout the tree could be is tried: a
changed tree matching any of them would need a SHA-256 preimage.

``__pycache__`` folders are not part of the deployed code and are skipped (Python
checks a cached file against its source's size and time; in a sandbox nothing can write
one, without a sandbox a process of the platform's user could: docs/security.md). Hashing
is skipped while no file of the tree changed: same names, sizes, inodes and change
times (a change time cannot be set back by a process).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

__all__ = ["CodeVerifier", "stored_code_matches"]

_SKIP = "__pycache__"


def _tree(root: Path) -> list[Path]:
    """The files below ``root`` in the code store's order (sorted, top-down)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != _SKIP)
        found.extend(Path(dirpath, f) for f in sorted(filenames))
    return found


def _folder_digest(kind: str, name: str, base: Path, files: list[Path]) -> str:
    digest = hashlib.sha256(f"{kind}\0{name}\0".encode())
    for f in files:
        digest.update(str(f.relative_to(base)).encode() + b"\0")
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def stored_code_matches(root: Path, code_hash: str) -> bool:
    """Whether the tree at ``root`` hashes to ``code_hash`` in one of the store's layouts."""
    files = _tree(root)
    if not files:
        return False
    top = [p for p in root.iterdir() if p.name != _SKIP]
    if len(files) == 1 and len(top) == 1 and top[0].is_file():
        only = files[0]
        kind = "file" if only.suffix == ".py" else "wasm"
        digest = hashlib.sha256(f"{kind}\0{only.name}\0".encode() + only.read_bytes())
        if digest.hexdigest() == code_hash:
            return True
    if len(top) == 1 and top[0].is_dir():
        package = top[0]
        if _folder_digest("package", package.name, package, files) == code_hash:
            return True
    return _folder_digest("modules", "", root, files) == code_hash


def _signature(root: Path) -> tuple[tuple[str, int, int, int, int], ...]:
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != _SKIP)
        for name in (".", *sorted(filenames)):
            st = os.lstat(os.path.join(dirpath, name))
            rows.append(
                (os.path.join(dirpath, name), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
            )
    return tuple(rows)


class CodeVerifier:
    """Checks stored code before it runs; remembers trees it already hashed."""

    def __init__(self) -> None:
        self._good: dict[Path, tuple[tuple[str, int, int, int, int], ...]] = {}
        self._lock = threading.Lock()

    def verify(self, root: Path, code_hash: str) -> bool:
        """Whether ``root`` still holds the code that hashed to ``code_hash``."""
        try:
            signature = _signature(root)
        except OSError:
            return False
        with self._lock:
            if self._good.get(root) == signature:
                return True
        try:
            ok = stored_code_matches(root, code_hash)
        except OSError:
            ok = False
        with self._lock:
            if ok:
                self._good[root] = signature
            else:
                self._good.pop(root, None)
        return ok
