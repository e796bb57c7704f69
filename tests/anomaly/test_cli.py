"""``constellation anomaly scan``: a table of anomalies and a PNG with them marked."""

from __future__ import annotations

import struct
import zlib
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


def read_png(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    return width, height, zlib.decompress(data[idat + 4 : idat + 4 + length])


def test_scan_prints_the_spike_and_writes_a_png(tmp_path: Path) -> None:
    csv_path = tmp_path / "latency.csv"
    write_csv(csv_path)
    png = tmp_path / "out.png"
    result = CliRunner().invoke(
        cli, ["scan", str(csv_path), "--method", "mad", "--png", str(png)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "1 anomalies" in result.output
    assert "2024-01-01 03:20:00" in result.output and "150" in result.output
    width, height, raw = read_png(png)
    assert (width, height) == (1200, 360)
    assert len(raw) == height * (1 + 3 * width)
    assert bytes((220, 30, 30)) in raw  # the red marker


def test_scan_without_timestamps_uses_row_numbers(tmp_path: Path) -> None:
    csv_path = tmp_path / "plain.csv"
    write_csv(csv_path, with_timestamps=False)
    result = CliRunner().invoke(cli, ["scan", str(csv_path), "--method", "zscore"])
    assert result.exit_code == 0, result.output
    assert "row 200" in result.output
    assert (tmp_path / "plain.anomalies.png").is_file()


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
