"""The forecast as a chart (matplotlib, the optional ``plot`` extra): recent history,
the forecast, its interval as a band, on a UTC time axis with labels, title and legend.
Written as PNG or SVG, chosen by the file's suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ._predictor import Prediction

__all__ = ["FORMATS", "MISSING_EXTRA", "plot_forecast"]

FORMATS = ("png", "svg")
MISSING_EXTRA = "--plot needs matplotlib (the 'plot' extra): pip install 'constellation[plot]'"


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError:
        raise ValidationError("plot", MISSING_EXTRA) from None
    return Figure(figsize=(10, 4), dpi=100, layout="constrained")


def _times(stamps: list[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in stamps]


def plot_forecast(
    path: Path,
    history: tuple[list[float], list[float]],
    forecast: list[Prediction],
    *,
    title: str,
    level: float,
) -> None:
    """Write the chart to ``path`` (.png or .svg)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValidationError("plot", f"{path.name}: the file must end in .png or .svg")
    fig = _figure()
    import matplotlib.dates as mdates
    from matplotlib import rc_context

    ax = fig.add_subplot()
    ax.plot(_times(history[0]), history[1], color="tab:blue", linewidth=1.2, label="history")
    f_times = _times([p.timestamp for p in forecast])
    ax.fill_between(
        f_times,
        [p.lower_bound for p in forecast],
        [p.upper_bound for p in forecast],
        color="tab:orange",
        alpha=0.25,
        linewidth=0,
        label=f"{level:.0%} interval",
        gid="interval-band",  # an id in SVG output
    )
    # the forecast line starts at the last observation so the two lines join
    ax.plot(
        [*_times(history[0][-1:]), *f_times],
        [*history[1][-1:], *(p.value for p in forecast)],
        color="tab:orange",
        linewidth=1.6,
        label="forecast",
    )
    if history[0]:
        ax.axvline(_times(history[0][-1:])[0], color="grey", linestyle=":", linewidth=1)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("value")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    with rc_context({"svg.fonttype": "none"}):  # SVG text stays text: searchable, selectable
        fig.savefig(path, format=fmt)
