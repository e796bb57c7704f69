"""Per-instance log files, kept within a size bound.

An instance's stdout and stderr go straight to ``<home>/logs/deployments/<name>/<id>.log``
(opened in append mode by the child, so the platform never copies output). The
supervisor bounds the file by "copy-truncate" rotation: past ``max_bytes`` the file is
copied to ``<id>.log.1`` (replacing the older one) and truncated in place; the child's
append-mode descriptor then writes at the new end. At most about ``2 * max_bytes`` per
instance is kept; output written during the copy itself may be lost, as with
logrotate's ``copytruncate``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

__all__ = ["InstanceLog"]


class InstanceLog:
    """The log file of one instance: its path, platform marker lines and rotation."""

    def __init__(self, directory: Path, instance_id: str, max_bytes: int) -> None:
        self.path = directory / f"{instance_id}.log"
        self.max_bytes = max_bytes
        self._prepared = False

    def prepare(self) -> None:
        """Create the folder (once per object; again if it was removed meanwhile)."""
        if not self._prepared or not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._prepared = True

    def mark(self, message: str) -> None:
        """Append one platform line (start, exit, restart) between the script's output."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            self.prepare()
            fd = os.open(self.path, flags, 0o600)
        try:
            os.write(fd, f"--- constellation {stamp} {message}\n".encode())
        finally:
            os.close(fd)

    def rotate_if_needed(self) -> bool:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return False
        if size <= self.max_bytes:
            return False
        shutil.copyfile(self.path, self.path.with_name(self.path.name + ".1"))
        os.truncate(self.path, 0)
        return True
