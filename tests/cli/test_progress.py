"""Progress bars draw on stderr, only on a terminal, and never into piped or JSON output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from constellation.cli import main, progress_bar

from .conftest import cli


def _csv(path: Path, n: int = 3000) -> Path:
    values = ["value"] + [str(50.0 + (i % 7)) for i in range(n)]
    values[2001] = "500"
    path.write_text("\n".join(values) + "\n")
    return path


def test_piped_output_has_no_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    done = cli("anomaly", "scan", str(_csv(tmp_path / "s.csv")), "--method", "mad", "--json")
    assert done.exit_code == 0
    assert [a["detected_value"] for a in json.loads(done.stdout)] == [500.0]
    assert done.stderr == ""


def test_on_a_terminal_the_bar_goes_to_stderr_and_json_stays_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat the streams as terminals
    args = ["anomaly", "scan", str(_csv(tmp_path / "s.csv")), "--method", "mad", "-o", "json"]
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == 0
    assert "scanning s.csv" in done.stderr
    assert [a["detected_value"] for a in json.loads(done.stdout)] == [500.0]


def test_the_helper_reports_what_it_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress_bar("simulating", 10) as update:
        update(3, 10)
        update(7, 10)
    assert "simulating" in err.getvalue() and "7/10" in err.getvalue()


def test_the_helper_is_silent_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # rich would take it for a terminal
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress_bar("simulating", 10) as update:
        update(10, 10)
    assert err.getvalue() == ""


def test_creating_from_a_directory_shows_what_is_copied(
    tmp_path: Path, tmp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("def handle(event, context):\n    return 1\n")
    (app / "data.txt").write_text("x" * 1000)
    args = ["functions", "create", "app", "--code", str(app), "--handler", "main.handle"]
    done = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert done.exit_code == 0
    assert "copying 2 files" in done.stderr
    assert json.loads(done.stdout)["name"] == "app"
