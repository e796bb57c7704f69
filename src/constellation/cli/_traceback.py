"""A failed handler's traceback as the user wrote it: the platform's own frames (the
worker that called the handler) dropped, and the stored copy of the code
(``$CONSTELLATION_HOME/code/<hash>/...``) replaced by the file it was created from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["user_traceback"]

_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line (?P<line>\d+)(?P<rest>.*)$')
# the stored copy (code/<sha256>/) or a server's upload (uploads/<name>/<sha256>/)
_STORED = re.compile(r"^.*/(?:code|uploads/[^/]+)/[0-9a-f]{32,}/(?P<rel>.+)$")
_UPLOADED = re.compile(r"/(?:code|uploads/[^/]+)/[0-9a-f]{32,}(?:/|$)")
_PLATFORM = re.compile(r"/constellation/_runtime/")


def _user_path(path: str, source: str | None) -> str:
    match = _STORED.match(path)
    if match is None:
        return path
    rel = match.group("rel")
    if not source or _UPLOADED.search(source):  # created over HTTP: only the code's own path
        return rel
    src = Path(source)
    if src.suffix and not src.is_dir():  # created from one file
        return str(src) if src.name == rel else str(src.parent / rel)
    return str(src / rel)


def user_traceback(trace: str, function: dict[str, Any] | None) -> str:
    """``trace`` with the platform's frames dropped and the user's paths put back."""
    source = (function or {}).get("source")
    out: list[str] = []
    skipping = False
    for line in trace.splitlines():
        frame = _FRAME.match(line)
        if frame is not None:
            skipping = bool(_PLATFORM.search(frame.group("path")))
            if not skipping:
                path = _user_path(frame.group("path"), source)
                line = f'  File "{path}", line {frame.group("line")}{frame.group("rest")}'
        elif not line.startswith("    "):
            skipping = False  # the exception line, or "Traceback ..."
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"
