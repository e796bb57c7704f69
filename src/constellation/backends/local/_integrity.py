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
times (a change time cannot be set back by a process). A file system stamps times from a
coarse clock (1-10 ms), so a tree changed in the same tick as its check would look
unchanged: a signature is remembered only once the tree has been still for 50 ms, and a
later change then gets a later time.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

__all__ = ["CodeVerifier", "stored_code_matches"]

_SKIP = "__pycache__"


def _walk(root: Path) -> tuple[list[str], list[str]]:
    """The folders and the files below ``root`` (``__pycache__`` left out), the files in
    the code store's order (sorted, top-down)."""
    folders: list[str] = []
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != _SKIP)
        folders.append(dirpath)
        files.extend(os.path.join(dirpath, name) for name in sorted(filenames))
    return folders, files


def _folder_digest(kind: str, name: str, base: Path, files: list[Path]) -> str:
    digest = hashlib.sha256(f"{kind}\0{name}\0".encode())
    for f in files:
        digest.update(str(f.relative_to(base)).encode() + b"\0")
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def stored_code_matches(root: Path, code_hash: str) -> bool:
    """Whether the tree at ``root`` hashes to ``code_hash`` in one of the store's layouts."""
    files = [Path(f) for f in _walk(root)[1]]
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


def _signature(entries: list[str]) -> tuple[tuple[int, int, int, int], ...]:
    """Size, inode and change times of each entry. A file added, removed or renamed
    changes its folder's times, so the entries listed once stay enough to notice it."""
    rows = []
    for path in entries:
        st = os.lstat(path)
        rows.append((st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(rows)


class CodeVerifier:
    """Checks stored code before it runs; remembers trees it already hashed."""

    def __init__(self, settle_ns: int = 50_000_000) -> None:
        self._settle_ns = settle_ns  # a tree changed this recently is hashed every time
        self._good: dict[Path, tuple[list[str], tuple[tuple[int, int, int, int], ...]]] = {}
        self._lock = threading.Lock()

    def verify(self, root: Path, code_hash: str) -> bool:
        """Whether ``root`` still holds the code that hashed to ``code_hash``."""
        with self._lock:
            known = self._good.get(root)
        if known is not None:
            entries, signature = known
            try:
                if _signature(entries) == signature:
                    return True
            except OSError:
                pass  # an entry is gone: hash the tree again, below
        try:
            folders, files = _walk(root)
            entries = folders + files
            signature = _signature(entries)  # before hashing: a change during it shows later
            ok = stored_code_matches(root, code_hash)
        except OSError:
            ok = False
        settled = ok and max(row[3] for row in signature) < time.time_ns() - self._settle_ns
        with self._lock:
            if settled:
                self._good[root] = (entries, signature)
            else:
                self._good.pop(root, None)
        return ok
