"""``constellation anomaly scan``: a table (or JSON) of anomalies and a PNG/SVG plot."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from constellation.anomaly._cli import cli


def write_csv(path: Path, with_timestamps: bool = True) -> None:
    values = np.random.default_rng(0).normal(50.0, 2.0, 300)
    values[200] = 150.0
    lines = ["timestamp,value" if with_timestamps else "value"]
    for i, v in enumerate(values):
        stamp = f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00," if with_timestamps else ""
        lines.append(f"{stamp}{v:.3f}")
    path.write_text("\n".join(lines) + "\n")


def test_scan_prints_the_spike_and_writes_a_png(tmp_path: Path) -> None:
    csv_path = tmp_path / "latency.csv"
    write_csv(csv_path)
    png = tmp_path / "out.png"
    result = CliRunner().invoke(
        cli, ["scan", str(csv_path), "--method", "mad", "--plot", str(png)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "1 anomalies" in result.output
    assert "2024-01-01 03:20:00" in result.output and "150" in result.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 400)
    from matplotlib.image import imread

    pixels = (imread(png)[:, :, :3] * 255).round()
    red = (abs(pixels - np.array([214, 39, 40])).sum(axis=2) < 10).sum()
    assert red > 20  # the anomaly's marker (tab:red) is drawn


def test_scan_svg_has_title_axes_legend_and_the_marker(tmp_path: Path) -> None:
    csv_path = tmp_path / "latency.csv"
    write_csv(csv_path)
    svg = tmp_path / "out.svg"
    result = CliRunner().invoke(cli, ["scan", str(csv_path), "--method", "mad", "--plot", str(svg)])
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    for label in ("Anomalies in latency.csv (mad): 1 found", "anomaly (1)", "value", "time (UTC)"):
        assert f">{label}<" in text, label
    assert 'id="anomalies"' in text  # the scatter of anomalies


def test_scan_as_json_is_only_json(tmp_path: Path) -> None:
    csv_path = tmp_path / "latency.csv"
    write_csv(csv_path)
    result = CliRunner().invoke(cli, ["scan", str(csv_path), "--method", "mad", "-o", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [a["detected_value"] for a in found] == [150.0]


def test_scan_without_timestamps_uses_row_numbers(tmp_path: Path) -> None:
    csv_path = tmp_path / "plain.csv"
    write_csv(csv_path, with_timestamps=False)
    result = CliRunner().invoke(cli, ["scan", str(csv_path), "--method", "zscore"])
    assert result.exit_code == 0, result.output
    assert "row 200" in result.output
    assert not (tmp_path / "plain.anomalies.png").exists()  # a plot only with --plot


def test_scan_reports_bad_input_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,latency\n1,2\n")
    result = CliRunner().invoke(cli, ["scan", str(bad)])
    assert result.exit_code != 0 and "no column 'value'" in result.output
    result = CliRunner().invoke(cli, ["scan", str(bad), "--method", "fourier"])
    assert result.exit_code != 0 and "'fourier' is not one of" in result.output
    nan = tmp_path / "nan.csv"
    nan.write_text("value\n1\nnan\n")
    result = CliRunner().invoke(cli, ["scan", str(nan)])
    assert result.exit_code != 0 and "not a finite number" in result.output
