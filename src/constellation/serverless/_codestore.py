"""Function code, copied into the platform's store under its content hash.

Deploying snapshots the user's file or directory into ``$CONSTELLATION_HOME/code/<sha256>/``,
so later edits of the source change nothing until the next deploy, and identical code
is stored once. The entry point is resolved from the handler string:

* a file ``orders.py``: handler ``handle`` or ``orders.handle``;
* a package directory (has ``__init__.py``), stored under its own name so its modules
  can import each other: handler ``handle`` (in ``__init__``) or ``module.handle``;
* a plain directory of modules: handler ``module.handle``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ValidationError

__all__ = ["CodeSnapshot", "resolve_entry", "snapshot_code"]

_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", "node_modules", ".mypy_cache"}


@dataclass(frozen=True)
class CodeSnapshot:
    """Where a deployed copy of the code lives and how to import it."""

    code_hash: str
    root: Path  # goes on sys.path
    kind: str  # "file" | "package" | "modules" | "wasm"
    base_module: str | None  # the file's module, the package's name, or the .wasm file's name


def _files(source: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        found.extend(Path(dirpath, f) for f in sorted(filenames) if not f.endswith(".pyc"))
    return found


def snapshot_code(source: str | os.PathLike[str], code_dir: Path) -> CodeSnapshot:
    """Copy ``source`` into ``code_dir`` under its content hash (a no-op when present)."""
    path = Path(source).expanduser()
    if not path.exists():
        raise ValidationError(
            "code", f"{str(source)!r} does not exist; give a .py file or a directory"
        )
    path = path.resolve()
    digest = hashlib.sha256()
    if path.is_file():
        if path.suffix not in (".py", ".wasm", ".wat"):
            raise ValidationError(
                "code", f"{str(source)!r} is not a .py, .wasm or .wat file or a directory"
            )
        kind, files = ("file" if path.suffix == ".py" else "wasm"), [path]
        base: str | None = path.stem if kind == "file" else path.name
        digest.update(f"{kind}\0{path.name}\0".encode())
        digest.update(path.read_bytes())
    else:
        files = _files(path)
        if not any(f.suffix == ".py" for f in files):
            raise ValidationError("code", f"directory {str(source)!r} holds no .py file")
        is_package = (path / "__init__.py").is_file()
        kind = "package" if is_package else "modules"
        base = path.name if is_package else None
        if is_package and not path.name.isidentifier():
            raise ValidationError(
                "code", f"package directory name {path.name!r} is not a Python identifier"
            )
        digest.update(f"{kind}\0{path.name if is_package else ''}\0".encode())
        for f in files:
            digest.update(str(f.relative_to(path)).encode() + b"\0")
            digest.update(hashlib.sha256(f.read_bytes()).digest())
    code_hash = digest.hexdigest()
    root = code_dir / code_hash
    if not root.is_dir():
        _copy_atomically(path, kind, code_dir, root)
    return CodeSnapshot(code_hash, root, kind, base)


def _copy_atomically(source: Path, kind: str, code_dir: Path, root: Path) -> None:
    code_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=code_dir))
    try:
        if kind in ("file", "wasm"):
            shutil.copy2(source, staging / source.name)
        else:
            target = staging / source.name if kind == "package" else staging
            ignore = shutil.ignore_patterns(*_SKIP_DIRS, "*.pyc")
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        try:
            staging.rename(root)
        except OSError:
            if not root.is_dir():  # not a concurrent deploy of the same code
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_entry(code: CodeSnapshot, handler: str) -> tuple[str, str]:
    """The module to import and the attribute to call, for ``handler`` in ``code``."""
    if code.kind == "wasm":  # the export to call; "_start" (or "") runs a WASI command
        return str(code.base_module), handler or "_start"
    parts = handler.split(".")
    if not handler or not all(p.isidentifier() for p in parts):
        raise ValidationError(
            "handler", f"{handler!r} is not a dotted Python name like 'handle' or 'module.handle'"
        )
    module, attr = ".".join(parts[:-1]), parts[-1]
    if code.kind == "file":
        if module and module != code.base_module:
            raise ValidationError(
                "handler",
                f"{handler!r}: the code is {code.base_module}.py; use {attr!r} or '{code.base_module}.{attr}'",
            )
        return str(code.base_module), attr
    if code.kind == "package":
        base = str(code.base_module)
        if not module or module == base:
            return base, attr
        return (module if module.startswith(base + ".") else f"{base}.{module}"), attr
    if not module:
        raise ValidationError(
            "handler", f"{handler!r}: the code is a directory of modules; give 'module.function'"
        )
    return module, attr
