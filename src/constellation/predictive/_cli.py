"""``constellation predictive forecast FILE.csv --horizon 1h``: forecast a CSV series.

The CSV has a header; the time column is ``timestamp`` (or the first column) holding
unix seconds or ``YYYY-MM-DD HH:MM:SS`` (UTC), the value column is ``value`` (or the
second). Prints the forecast at every sampling step up to the horizon with its
interval and confidence (``-o json``: as JSON), and with ``--plot FILE.png|.svg`` draws
the recent history, the forecast and the interval band with matplotlib (the optional
``plot`` extra). Training and forecasting a long series shows a progress bar on stderr
when it is a terminal.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import ValidationError
from ._config import PredictorConfig
from ._ensemble import MODELS
from ._plot import plot_forecast
from ._predictor import Predictor

__all__ = ["cli", "parse_duration", "read_csv"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '1h', '2d', '1w' -> seconds (> 0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise click.BadParameter(f"{text!r}: expected a positive duration like 300, 15m, 1h, 2d")
    return float(match.group(1)) * _UNITS.get(match.group(2) or "s", 1)


def _timestamp(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def read_csv(path: Path) -> tuple[list[float], list[float]]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        t_col = header.index("timestamp") if "timestamp" in header else 0
        v_col = header.index("value") if "value" in header else 1
        ts, ys = [], []
        for line, row in enumerate(reader, start=2):
            try:
                ts.append(_timestamp(row[t_col]))
                ys.append(float(row[v_col]))
            except (ValueError, IndexError):
                raise click.BadParameter(f"{path}:{line}: cannot read {row!r}") from None
    return ts, ys


cli = click.Group("predictive", help="Forecast metrics with calibrated intervals.")


def _progress() -> Progress:
    """Progress on stderr, only when it is a terminal: never in piped or JSON output."""
    console = Console(stderr=True)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@cli.command("forecast")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--horizon", default="1h", show_default=True, help="how far ahead: 300, 15m, 1h, 2d")
@click.option("--model", type=click.Choice(MODELS), default="auto", show_default=True)
@click.option("--level", type=float, default=0.95, show_default=True, help="interval level")
@click.option(
    "--plot",
    "plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="draw the history, forecast and interval to FILE.png or FILE.svg (needs the "
    "'plot' extra: matplotlib)",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="how to print the forecast",
)
@click.option("--json", "as_json", is_flag=True, help="short for -o json")
def forecast_cmd(
    file: Path,
    horizon: str,
    model: str,
    level: float,
    plot: Path | None,
    output: str,
    as_json: bool,
) -> None:
    """Forecast the series in FILE (a timestamp,value CSV) HORIZON ahead."""
    seconds = parse_duration(horizon)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter(
            f"{plot.name}: the file must end in .png or .svg", param_hint="--plot"
        )
    ts, ys = read_csv(file)
    config = PredictorConfig(
        file.stem,
        model=model,
        level=level,
        training_window=0,
        max_samples=max(len(ts), 10),
        invalid="skip",
    )
    predictor = Predictor(config)
    with _progress() as progress:
        task = progress.add_task(f"training on {len(ts)} samples", total=3)
        predictor.add_samples(zip(ts, ys, strict=True))
        progress.advance(task)
        chosen = predictor.train()
        progress.update(task, advance=1, description=f"forecasting {horizon} ahead ({chosen})")
        stats = predictor.get_stats()
        step = float(stats["step_seconds"])  # type: ignore[arg-type]
        series = predictor.predict_series(seconds, step) or [predictor.predict(seconds)]
        progress.advance(task)
    patterns = ", ".join(f"{p['label']} ({p['samples']} steps)" for p in stats["patterns"])  # type: ignore[attr-defined]
    if as_json or output == "json":
        click.echo(
            json.dumps(
                {
                    "file": file.name,
                    "samples": len(predictor),
                    "step_seconds": step,
                    "model": chosen,
                    "level": level,
                    "patterns": stats["patterns"],
                    "forecast": [dataclasses.asdict(p) for p in series],
                },
                indent=2,
                default=str,
            )
        )
    else:
        click.echo(
            f"{file.name}: {len(predictor)} samples every {step:g} s; model {chosen}; "
            f"patterns: {patterns or 'none'}"
        )
        click.echo(
            f"{'time (UTC)':<20} {'value':>14} {'lower':>14} {'upper':>14} {'confidence':>10}"
        )
        for p in series:
            when = datetime.fromtimestamp(p.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
            click.echo(
                f"{when:<20} {p.value:>14.4g} {p.lower_bound:>14.4g} {p.upper_bound:>14.4g}"
                f" {p.confidence:>10.2f}"
            )
    if plot is not None:
        recent = max(5 * len(series), 200)
        title = f"Forecast of {file.stem}: {chosen}, {horizon} ahead"
        try:
            plot_forecast(plot, (ts[-recent:], ys[-recent:]), series, title=title, level=level)
        except ValidationError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"plot: {plot}", err=True)
