"""``constellation predictive forecast FILE.csv --horizon 1h``: forecast a CSV series.

The CSV has a header; the time column is ``timestamp`` (or the first column) holding
unix seconds or ``YYYY-MM-DD HH:MM:SS`` (UTC), the value column is ``value`` (or the
second). Prints the forecast at every sampling step up to the horizon with its
interval and confidence, and writes a PNG of the recent history, the forecast and the
interval band (drawn here with numpy and zlib, so no plotting library is needed).
"""

from __future__ import annotations

import csv
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np

from ._config import PredictorConfig
from ._ensemble import MODELS
from ._predictor import Prediction, Predictor

__all__ = ["cli", "parse_duration", "read_csv", "write_png"]

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


def write_png(
    path: Path,
    history: tuple[list[float], list[float]],
    forecast: list[Prediction],
    size: tuple[int, int] = (900, 360),
) -> None:
    """History (blue), forecast (orange) and its interval (light band) as an RGB PNG."""
    width, height = size
    hx, hy = np.asarray(history[0]), np.asarray(history[1])
    fx = np.array([p.timestamp for p in forecast])
    fy = np.array([p.value for p in forecast])
    lo = np.array([p.lower_bound for p in forecast])
    hi = np.array([p.upper_bound for p in forecast])
    x0, x1 = float(min(hx.min(), fx.min())), float(max(hx.max(), fx.max()))
    y0 = float(min(hy.min(), lo.min()))
    y1 = float(max(hy.max(), hi.max()))
    pad = 0.05 * (y1 - y0 or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    img = np.full((height, width, 3), 255, dtype=np.uint8)

    def px(x: np.ndarray) -> np.ndarray:
        return np.clip(((x - x0) / ((x1 - x0) or 1.0) * (width - 1)).round(), 0, width - 1).astype(
            int
        )

    def py(y: np.ndarray) -> np.ndarray:
        return np.clip(((y1 - y) / (y1 - y0) * (height - 1)).round(), 0, height - 1).astype(int)

    cols = np.arange(px(fx[:1])[0], px(fx[-1:])[0] + 1)
    if cols.size:
        top = py(np.interp(x0 + cols / (width - 1) * (x1 - x0), fx, hi))
        bottom = py(np.interp(x0 + cols / (width - 1) * (x1 - x0), fx, lo))
        for c, a, b in zip(cols, top, bottom, strict=True):
            img[a : b + 1, c] = (255, 221, 170)

    def line(xs: np.ndarray, ys: np.ndarray, rgb: tuple[int, int, int]) -> None:
        for i in range(len(xs) - 1):
            steps = max(abs(px(xs[i + 1 : i + 2])[0] - px(xs[i : i + 1])[0]), 1) * 4
            sx = np.linspace(xs[i], xs[i + 1], steps)
            sy = np.linspace(ys[i], ys[i + 1], steps)
            for dy in (0, 1):
                img[np.clip(py(sy) + dy, 0, height - 1), px(sx)] = rgb

    line(hx, hy, (31, 119, 180))
    line(np.r_[hx[-1], fx], np.r_[hy[-1], fy], (255, 127, 14))
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


cli = click.Group("predictive", help="Forecast metrics with calibrated intervals.")


@cli.command("forecast")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--horizon", default="1h", show_default=True, help="how far ahead: 300, 15m, 1h, 2d")
@click.option("--model", type=click.Choice(MODELS), default="auto", show_default=True)
@click.option("--level", type=float, default=0.95, show_default=True, help="interval level")
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="where to write the plot [default: FILE stem + .forecast.png, here]",
)
@click.option("--no-png", is_flag=True, help="do not write the plot")
def forecast_cmd(
    file: Path, horizon: str, model: str, level: float, png: Path | None, no_png: bool
) -> None:
    """Forecast the series in FILE (a timestamp,value CSV) HORIZON ahead."""
    seconds = parse_duration(horizon)
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
    predictor.add_samples(zip(ts, ys, strict=True))
    chosen = predictor.train()
    stats = predictor.get_stats()
    step = float(stats["step_seconds"])  # type: ignore[arg-type]
    series = predictor.predict_series(seconds, step) or [predictor.predict(seconds)]
    patterns = ", ".join(f"{p['label']} ({p['samples']} steps)" for p in stats["patterns"])  # type: ignore[attr-defined]
    click.echo(
        f"{file.name}: {len(predictor)} samples every {step:g} s; model {chosen}; "
        f"patterns: {patterns or 'none'}"
    )
    click.echo(f"{'time (UTC)':<20} {'value':>14} {'lower':>14} {'upper':>14} {'confidence':>10}")
    for p in series:
        when = datetime.fromtimestamp(p.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{when:<20} {p.value:>14.4g} {p.lower_bound:>14.4g} {p.upper_bound:>14.4g}"
            f" {p.confidence:>10.2f}"
        )
    if not no_png:
        out = png or Path(f"{file.stem}.forecast.png")
        recent = max(5 * len(series), 200)
        write_png(out, (ts[-recent:], ys[-recent:]), series)
        click.echo(f"plot: {out}")
