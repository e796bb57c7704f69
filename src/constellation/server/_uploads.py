"""Function code sent over HTTP: Python source text or a base64 zip, kept on disk.

The functions service takes code as a path and snapshots it on create and on every
deploy, so an upload is written under ``$CONSTELLATION_HOME/uploads/<name>/<sha256>/``
and that directory becomes the function's source. A zip is checked before anything is
extracted: no absolute paths, no ``..``, no links, at most ``MAX_UNZIPPED_BYTES``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import ValidationError

__all__ = ["MAX_UNZIPPED_BYTES", "remove_uploads", "save_upload"]

MAX_UNZIPPED_BYTES = 250 * 1024 * 1024  # Lambda's unzipped size limit
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _module_for(handler: str) -> str:
    """``orders.handle`` -> ``orders``; ``handle`` -> ``main``."""
    module = handler.rsplit(".", 1)[0] if "." in handler else "main"
    if "." in module or not _MODULE.fullmatch(module):
        raise ValidationError(
            "handler", f"{handler!r}: with source text, use 'function' or 'module.function'"
        )
    return module


def _check_zip(archive: zipfile.ZipFile) -> None:
    total = 0
    files: set[PurePosixPath] = set()
    parents: set[PurePosixPath] = set()
    for member in archive.infolist():
        name = PurePosixPath(member.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
            raise ValidationError("code_zip", f"member {member.filename!r} leaves the archive")
        if (member.external_attr >> 16) & 0o170000 == 0o120000:
            raise ValidationError("code_zip", f"member {member.filename!r} is a symbolic link")
        total += member.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise ValidationError(
                "code_zip", f"unzips to more than {MAX_UNZIPPED_BYTES // 2**20} MB"
            )
        parents.update(name.parents)
        if not member.is_dir():
            files.add(name)
    clash = sorted(str(p) for p in files & parents)
    if clash:
        raise ValidationError(
            "code_zip", f"member {clash[0]!r} is both a file and a directory of other members"
        )


def _extract(archive: zipfile.ZipFile, staging: Path) -> None:
    """Unpack into ``staging``; a damaged member (bad CRC, truncated data) is a
    ValidationError and leaves nothing behind."""
    try:
        archive.extractall(staging)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.parent.rmdir()  # the function's uploads folder, when this was its first
        except OSError:
            pass
        raise ValidationError("code_zip", f"cannot be unpacked: {exc}") from None


def save_upload(
    home: Path, name: str, handler: str, code: str | None, code_zip: str | None
) -> Path:
    """Write the code; returns the path to give ``create_function`` as ``code``."""
    if (code is None) == (code_zip is None):
        raise ValidationError("code", "give exactly one of 'code' (source text) or 'code_zip'")
    if code is not None:
        if not isinstance(code, str):
            raise ValidationError("code", "must be Python source text")
        data = code.encode()
        digest = hashlib.sha256(b"src\0" + data).hexdigest()
        target = Path(home) / "uploads" / name / digest
        module = _module_for(handler)
        if not (target / f"{module}.py").exists():
            target.mkdir(parents=True, exist_ok=True)
            (target / f"{module}.py").write_bytes(data)
        return target / f"{module}.py"
    if not isinstance(code_zip, str):
        raise ValidationError("code_zip", "must be a base64-encoded zip archive")
    try:
        raw = base64.b64decode(code_zip, validate=True)
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (binascii.Error, ValueError):
        raise ValidationError("code_zip", "is not valid base64") from None
    except zipfile.BadZipFile:
        raise ValidationError("code_zip", "is not a zip archive") from None
    with archive:
        _check_zip(archive)
        digest = hashlib.sha256(b"zip\0" + raw).hexdigest()
        target = Path(home) / "uploads" / name / digest
        if not target.exists():
            staging = target.with_name(digest + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            _extract(archive, staging)
            staging.rename(target)
    return target


def remove_uploads(home: Path, name: str) -> None:
    shutil.rmtree(Path(home) / "uploads" / name, ignore_errors=True)
