"""The `predictive forecast` command on a real CSV: table, PNG, and bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from constellation.predictive._cli import cli, parse_duration

from .conftest import cpu_series


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cpu.csv"
    rows = ["timestamp,value"] + [f"{ts:.0f},{v:.3f}" for ts, v in cpu_series(120)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_forecast_prints_the_table_and_writes_a_png(csv_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "plot.png"
    result = CliRunner().invoke(
        cli, ["forecast", str(csv_file), "--horizon", "3m", "--model", "ets", "--png", str(png)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("cpu.csv: 120 samples every 36 s; model ets")
    assert len([ln for ln in lines if ln[:2] == "20"]) == 5  # 180 s / 36 s
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (900, 360)


def test_bad_input_is_reported(csv_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["forecast", str(csv_file), "--horizon", "soon", "--no-png"])
    assert bad.exit_code != 0 and "expected a positive duration" in bad.output
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,value\n1,2\nx,y\n")
    res = runner.invoke(cli, ["forecast", str(broken), "--no-png"])
    assert res.exit_code != 0 and "broken.csv:3: cannot read" in res.output
    unknown = runner.invoke(cli, ["forecast", str(csv_file), "--model", "prophet", "--no-png"])
    assert unknown.exit_code != 0 and "'prophet' is not one of" in unknown.output


def test_parse_duration() -> None:
    assert parse_duration("300") == 300
    assert parse_duration("15m") == 900
    assert parse_duration("1h") == 3600
    assert parse_duration("2d") == 172800
    with pytest.raises(click.BadParameter):
        parse_duration("0")
