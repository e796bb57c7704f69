"""``constellation anomaly scan FILE.csv``: find anomalies in a CSV series, plot them.

The CSV needs a header with a value column (``value`` by default) and optionally a
``timestamp`` column (unix seconds or ISO 8601; row numbers are used without one).
The scan streams the series through one detector, prints one table row per anomaly
(a run of flagged values is one anomaly) and writes a PNG of the series with the
anomalies marked in red. The PNG is drawn by a small built-in rasteriser (zlib +
the PNG chunk format), so the CLI needs no plotting library.
"""

from __future__ import annotations

import csv
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..errors import ConstellationError
from ._methods import METHODS
from ._records import Anomaly
from ._registry import AnomalyRegistry

__all__ = ["cli", "read_series", "write_png"]

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


def _png_bytes(width: int, height: int, pixels: bytearray) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes(pixels[y * width * 3 : (y + 1) * width * 3]) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def write_png(
    path: Path, values: list[float], marked: list[int], width: int = 1200, height: int = 360
) -> None:
    """The series as a blue line, values at the ``marked`` indices as red bars."""
    pixels = bytearray(b"\xff" * (width * height * 3))
    margin = 10
    low, high = min(values, default=0.0), max(values, default=1.0)
    span = (high - low) or 1.0
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[int, int]:
        x = margin + round(i / n * (width - 2 * margin - 1))
        y = height - margin - 1 - round((v - low) / span * (height - 2 * margin - 1))
        return x, y

    def put(x: int, y: int, rgb: tuple[int, int, int]) -> None:
        if 0 <= x < width and 0 <= y < height:
            pixels[(y * width + x) * 3 : (y * width + x) * 3 + 3] = bytes(rgb)

    for i in marked:  # behind the line: a pale red bar across the plot
        x, _ = xy(i, values[i])
        for y in range(margin, height - margin):
            put(x, y, (255, 190, 190))
    for i in range(1, len(values)):
        (x0, y0), (x1, y1) = xy(i - 1, values[i - 1]), xy(i, values[i])
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            put(x0 + round((x1 - x0) * s / steps), y0 + round((y1 - y0) * s / steps), (30, 90, 200))
    for i in marked:  # the anomalous value itself: a red dot
        x, y = xy(i, values[i])
        for dx in range(-3, 4):
            for dy in range(-3, 4):
                if dx * dx + dy * dy <= 9:
                    put(x + dx, y + dy, (220, 30, 30))
    path.write_bytes(_png_bytes(width, height, pixels))


def _when(t: float) -> str:
    if t > 1e8:  # unix seconds
        return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"row {int(t)}"


@cli.command("scan")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(METHOD_NAMES), default="ensemble", show_default=True)
@click.option("--sensitivity", type=float, default=None, help="Default: the method's own.")
@click.option("--column", default="value", show_default=True, help="The value column.")
@click.option(
    "--png",
    "png_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the plot (default: FILE with suffix .anomalies.png).",
)
def scan(
    file: Path, method: str, sensitivity: float | None, column: str, png_path: Path | None
) -> None:
    """Print the anomalies in FILE.csv and write a PNG with them marked."""
    times, values = read_series(file, column)
    registry = AnomalyRegistry(clock=lambda: 0.0)
    try:
        handle = registry.create_detector(file.stem, method, sensitivity)
        found: dict[str, Anomaly] = {}
        marked: list[int] = []
        for i, (t, v) in enumerate(zip(times, values, strict=True)):
            anomaly = registry.detect(handle, v, t)
            if anomaly is not None:
                found[anomaly.id] = anomaly
                marked.append(i)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title=f"{len(found)} anomalies in {file.name} ({method}, {len(values)} values)")
    for name in ("detected at", "value", "expected", "score", "points", "recommendation"):
        table.add_column(name)
    for a in sorted(found.values(), key=lambda a: a.detected_at):
        expected = "-" if a.expected_value is None else f"{a.expected_value:.4g}"
        table.add_row(
            _when(a.detected_at),
            f"{a.detected_value:.4g}",
            expected,
            f"{a.score:.2f}",
            str(a.points),
            a.recommendation,
        )
    Console().print(table)
    out = png_path or file.with_suffix(".anomalies.png")
    write_png(out, values, marked)
    click.echo(f"plot: {out}")
