"""What every test package shares: a clock tests move by hand, and waits for real events.

Waits poll a condition until it holds *whole* (a log line with its newline, every
instance running), never a first part of it, and fail with what was last seen. Their
time limits are generous on purpose: they bound a hang, they never measure speed, so a
loaded 2-core machine only makes them slower, not red.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["FakeClock", "wait_for_line", "wait_until"]

T = TypeVar("T")

# The default limit of a wait: long enough for a cold start on a loaded machine.
WAIT_S = 60.0


class FakeClock:
    """Wall-clock time (unix seconds) that a test moves forward by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(
    condition: Callable[[], T],
    timeout: float = WAIT_S,
    *,
    interval: float = 0.01,
    what: str | None = None,
) -> T:
    """Poll ``condition()`` until it returns something true, and return that.

    Fails the test (AssertionError) after ``timeout`` seconds, naming ``what`` was
    awaited (the condition's name by default) and the last value it returned.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            name = what or getattr(condition, "__qualname__", repr(condition))
            raise AssertionError(f"not reached within {timeout:g} s: {name} (last: {found!r})")
        time.sleep(interval)


def wait_for_line(path: str | Path, text: str, timeout: float = WAIT_S) -> str:
    """Wait until a *complete* line (ended by its newline) containing ``text`` is in the
    file at ``path``, and return that line without the newline.

    A writer may flush a line in parts; reading at the first sight of ``text`` could see
    half of it, so the line counts only once its newline is there too.
    """
    file = Path(path)

    def complete_line() -> str | None:
        try:
            content = file.read_text(errors="replace")
        except FileNotFoundError:
            return None
        for line in content.splitlines(keepends=True):
            if text in line and line.endswith("\n"):
                return line.rstrip("\n")
        return None

    return wait_until(complete_line, timeout, interval=0.02, what=f"a line with {text!r} in {file}")
