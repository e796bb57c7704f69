"""Shipping a function's code to the nodes that run it.

The head packs the code store's copy (``code/<hash>/``) into a zip once per content
hash and puts it into Ray's object store; each node unpacks it once into
``$TMPDIR/constellation-code/<hash>/`` (atomically: a half-written tree is never used).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

__all__ = ["pack_code", "unpack_code"]


def pack_code(root: Path) -> bytes:
    """The tree under ``root`` as zip bytes (file order fixed, so the same code packs the same)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def unpack_code(blob: bytes, code_hash: str, base: Path | None = None) -> Path:
    """The code's directory on this node, unpacked from ``blob`` unless already there."""
    if not code_hash or "/" in code_hash or code_hash.startswith("."):
        raise ValueError(f"bad code hash {code_hash!r}")
    base = base or Path(tempfile.gettempdir()) / "constellation-code"
    target = base / code_hash
    if target.is_dir():
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{code_hash}-", dir=base))
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for name in archive.namelist():
                resolved = (staging / name).resolve()
                if not resolved.is_relative_to(staging.resolve()):
                    raise ValueError(f"unsafe path in the code archive: {name!r}")
            archive.extractall(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another instance on this node unpacked it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
