"""The `predictive forecast` command on a real CSV: table, JSON, PNG/SVG plots, bad input."""

from __future__ import annotations

import json
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
        cli, ["forecast", str(csv_file), "--horizon", "3m", "--model", "ets", "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("cpu.csv: 120 samples every 36 s; model ets")
    assert len([ln for ln in lines if ln[:2] == "20"]) == 5  # 180 s / 36 s
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1000, 400)


def test_forecast_svg_has_axes_title_legend_and_band(csv_file: Path, tmp_path: Path) -> None:
    svg = tmp_path / "plot.svg"
    result = CliRunner().invoke(
        cli, ["forecast", str(csv_file), "--horizon", "3m", "--model", "ets", "--plot", str(svg)]
    )
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for label in ("Forecast of cpu: ets, 3m ahead", "history", "forecast", "95% interval"):
        assert f">{label}<" in text, label
    assert ">time (UTC)<" in text and ">value<" in text
    assert 'id="interval-band"' in text  # the interval band (fill_between)


def test_forecast_as_json(csv_file: Path) -> None:
    result = CliRunner().invoke(cli, ["forecast", str(csv_file), "--horizon", "3m", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["samples"] == 120 and len(data["forecast"]) == 5
    first = data["forecast"][0]
    assert first["lower_bound"] <= first["value"] <= first["upper_bound"]


def test_plot_needs_a_png_or_svg_name(csv_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["forecast", str(csv_file), "--plot", str(tmp_path / "a.gif")])
    assert result.exit_code == 2 and "must end in .png or .svg" in result.output
    assert not (tmp_path / "a.gif").exists()


def test_plot_without_matplotlib_names_the_extra(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    result = CliRunner().invoke(cli, ["forecast", str(csv_file), "--plot", str(tmp_path / "a.png")])
    assert result.exit_code == 1
    assert "pip install 'constellation[plot]'" in result.output
    assert not (tmp_path / "a.png").exists()


def test_bad_input_is_reported(csv_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["forecast", str(csv_file), "--horizon", "soon"])
    assert bad.exit_code != 0 and "expected a positive duration" in bad.output
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,value\n1,2\nx,y\n")
    res = runner.invoke(cli, ["forecast", str(broken)])
    assert res.exit_code != 0 and "broken.csv:3: cannot read" in res.output
    unknown = runner.invoke(cli, ["forecast", str(csv_file), "--model", "prophet"])
    assert unknown.exit_code != 0 and "'prophet' is not one of" in unknown.output


def test_parse_duration() -> None:
    assert parse_duration("300") == 300
    assert parse_duration("15m") == 900
    assert parse_duration("1h") == 3600
    assert parse_duration("2d") == 172800
    with pytest.raises(click.BadParameter):
        parse_duration("0")
