"""A scanned series as a chart (matplotlib, the optional ``plot`` extra): the values on
a UTC time axis (or row numbers), the anomalies marked, with labels, title and legend.
Written as PNG or SVG, chosen by the file's suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ValidationError

__all__ = ["FORMATS", "MISSING_EXTRA", "plot_anomalies"]

FORMATS = ("png", "svg")
MISSING_EXTRA = "--plot needs matplotlib (the 'plot' extra): pip install 'constellation[plot]'"
_UNIX = 1e8  # timestamps above this are unix seconds; below, row numbers


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError:
        raise ValidationError("plot", MISSING_EXTRA) from None
    return Figure(figsize=(12, 4), dpi=100, layout="constrained")


def plot_anomalies(
    path: Path, times: list[float], values: list[float], marked: list[int], *, title: str
) -> None:
    """Write the chart to ``path`` (.png or .svg); ``marked`` are indices into values."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValidationError("plot", f"{path.name}: the file must end in .png or .svg")
    fig = _figure()
    from matplotlib import rc_context

    ax = fig.add_subplot()
    dated = bool(times) and min(times) > _UNIX
    xs: list[Any] = [datetime.fromtimestamp(t, UTC) for t in times] if dated else list(times)
    ax.plot(xs, values, color="tab:blue", linewidth=1.0, label="value")
    ax.scatter(
        [xs[i] for i in marked],
        [values[i] for i in marked],
        color="tab:red",
        s=36,
        zorder=3,
        label=f"anomaly ({len(marked)})",
        gid="anomalies",  # an id in SVG output
    )
    if dated:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("time (UTC)" if dated else "row")
    ax.set_ylabel("value")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    with rc_context({"svg.fonttype": "none"}):  # SVG text stays text: searchable, selectable
        fig.savefig(path, format=fmt)
