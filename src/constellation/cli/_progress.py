"""Progress bars for work that can take more than a second (rich).

They draw on stderr and only when stderr is a terminal, so piped and JSON output never
holds one. :func:`progress_bar` yields an ``advance(done, total)`` callable that code
outside the CLI can be handed as a plain callback (a capability cannot import the CLI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(
    description: str, total: int | None = None
) -> Iterator[Callable[[int, int], None]]:
    """``with progress_bar("zipping", n) as update: update(done, total)``; total 0 or
    None shows a spinner. Disappears when done."""
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total or None)

        def update(done: int, total: int = 0) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update
