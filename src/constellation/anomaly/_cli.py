"""``constellation anomaly scan FILE.csv``: find anomalies in a CSV series, plot them.

The CSV needs a header with a value column (``value`` by default) and optionally a
``timestamp`` column (unix seconds or ISO 8601; row numbers are used without one).
The scan streams the series through one detector (with a progress bar on stderr when
it is a terminal) and prints one table row per anomaly (a run of flagged values is one
anomaly; ``-o json``: a JSON list). ``--plot FILE.png|.svg`` draws the series with the
anomalies marked, with matplotlib (the optional ``plot`` extra).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..errors import ConstellationError, ValidationError
from ._methods import METHODS
from ._plot import plot_anomalies
from ._records import Anomaly
from ._registry import AnomalyRegistry

__all__ = ["cli", "read_series"]

cli = click.Group("anomaly", help="Anomaly detection on metric series.")

# correlation needs a second series: not available in a one-series scan
METHOD_NAMES = sorted(m for m in METHODS if m != "correlation")


def _parse_time(text: str, row: int) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"row {row}: timestamp {text!r} is not unix seconds or ISO 8601"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_series(path: Path, column: str = "value") -> tuple[list[float], list[float]]:
    """(timestamps, values) from a CSV file with a header."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or column not in reader.fieldnames:
            found = ", ".join(reader.fieldnames or []) or "no header"
            raise click.BadParameter(f"{path}: no column {column!r} (found: {found})")
        times, values = [], []
        for i, row in enumerate(reader, start=2):
            try:
                values.append(float(row[column]))
            except (TypeError, ValueError):
                raise click.BadParameter(
                    f"row {i}: {column}={row[column]!r} is not a number"
                ) from None
            stamp = row.get("timestamp")
            times.append(_parse_time(stamp, i) if stamp else float(i - 2))
    return times, values


def _when(t: float) -> str:
    if t > 1e8:  # unix seconds
        return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"row {int(t)}"


def _progress() -> Progress:
    """Progress on stderr, only when it is a terminal: never in piped or JSON output."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@cli.command("scan")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(METHOD_NAMES), default="ensemble", show_default=True)
@click.option("--sensitivity", type=float, default=None, help="Default: the method's own.")
@click.option("--column", default="value", show_default=True, help="The value column.")
@click.option(
    "--plot",
    "plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw the series with the anomalies marked to FILE.png or FILE.svg (needs the "
    "'plot' extra: matplotlib).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print the anomalies.",
)
@click.option("--json", "as_json", is_flag=True, help="Short for -o json.")
def scan(
    file: Path,
    method: str,
    sensitivity: float | None,
    column: str,
    plot: Path | None,
    output: str,
    as_json: bool,
) -> None:
    """Print the anomalies in FILE.csv (and draw them with --plot)."""
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter(
            f"{plot.name}: the file must end in .png or .svg", param_hint="--plot"
        )
    times, values = read_series(file, column)
    registry = AnomalyRegistry(clock=lambda: 0.0)
    try:
        handle = registry.create_detector(file.stem, method, sensitivity)
        found: dict[str, Anomaly] = {}
        marked: list[int] = []
        with _progress() as progress:
            task = progress.add_task(f"scanning {file.name}", total=len(values))
            for i, (t, v) in enumerate(zip(times, values, strict=True)):
                anomaly = registry.detect(handle, v, t)
                if anomaly is not None:
                    found[anomaly.id] = anomaly
                    marked.append(i)
                if i % 1024 == 1023:
                    progress.advance(task, 1024)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    ordered = sorted(found.values(), key=lambda a: a.detected_at)
    if as_json or output == "json":
        click.echo(json.dumps([dataclasses.asdict(a) for a in ordered], indent=2, default=str))
    else:
        table = Table(
            title=f"{len(found)} anomalies in {file.name} ({method}, {len(values)} values)"
        )
        for name in ("detected at", "value", "expected", "score", "points", "recommendation"):
            table.add_column(name)
        for a in ordered:
            expected = "-" if a.expected_value is None else f"{a.expected_value:.4g}"
            table.add_row(
                _when(a.detected_at),
                f"{a.detected_value:.4g}",
                expected,
                f"{a.score:.2f}",
                str(a.points),
                a.recommendation,
            )
        # piped: as wide as the rows need, so no cell is cut
        Console(width=None if sys.stdout.isatty() else 100_000).print(table)
    if plot is not None:
        title = f"Anomalies in {file.name} ({method}): {len(found)} found"
        try:
            plot_anomalies(plot, times, values, marked, title=title)
        except ValidationError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"plot: {plot}", err=True)
