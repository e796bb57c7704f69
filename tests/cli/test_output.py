"""Scriptable output: -o table|wide|json, --json, pipes that see whole identifiers,
and completion of function names."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from constellation.cli import main
from constellation.cli._common import complete_function_names
from constellation.platform import Constellation

from .conftest import HANDLERS, cli

LONG = "a-function-whose-name-is-long-enough-to-be-cut-at-80-columns-xy"  # 63 characters


def _create(home: Path, *names: str) -> None:
    with Constellation(home) as platform:
        for name in names:
            platform.serverless.create_function(
                name, "python", "chatty", HANDLERS, env={"API_KEY": "hunter2"}
            )


def test_piped_tables_keep_every_identifier_whole(tmp_home: Path) -> None:
    assert len(LONG) == 63  # the longest name allowed
    _create(tmp_home, LONG, "short")
    done = cli("functions", "list")
    assert done.exit_code == 0
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "id", "runtime"]
    # `constellation functions list | grep NAME` finds the row, name and id whole
    found = [ln for ln in lines if LONG in ln]
    assert len(found) == 1 and found[0].split()[0] == LONG
    assert found[0].split()[1].startswith("fn-")
    assert all("…" not in ln for ln in lines) and "hunter2" not in done.stdout


def test_json_is_the_api_shape_and_wide_shows_more(tmp_home: Path) -> None:
    _create(tmp_home, "short")
    listed = json.loads(cli("functions", "list", "-o", "json").stdout)
    assert [f["name"] for f in listed] == ["short"]
    assert listed[0]["env"] == {"API_KEY": "****"} and listed[0]["triggers"] == []
    assert (
        cli("functions", "list", "--json").stdout == cli("functions", "list", "-o", "json").stdout
    )
    table = cli("functions", "list").stdout.splitlines()[0].split()
    wide = cli("functions", "list", "-o", "wide").stdout.splitlines()[0].split()
    assert "concurrency" not in table and "concurrency" in wide and "env" in wide
    metrics = json.loads(cli("functions", "metrics", "short", "--json").stdout)
    assert metrics["total_invocations"] == 0
    bad = cli("functions", "list", "-o", "yaml")
    assert bad.exit_code == 2 and "'yaml' is not one of 'table', 'wide', 'json'" in bad.stderr


def test_function_names_complete(tmp_home: Path) -> None:
    _create(tmp_home, "orders", "order-audit", "billing")
    ctx = click.Context(main, info_name="constellation")
    names = [item.value for item in complete_function_names(ctx, None, "ord")]  # type: ignore[arg-type]
    assert sorted(names) == ["order-audit", "orders"]
    assert complete_function_names(ctx, None, "zzz") == []  # type: ignore[arg-type]


def test_the_shell_asks_click_for_completions(tmp_home: Path) -> None:
    _create(tmp_home, "orders", "billing")
    env = {
        "_CONSTELLATION_COMPLETE": "bash_complete",
        "COMP_WORDS": "constellation functions invoke or",
        "COMP_CWORD": "3",
    }
    from click.testing import CliRunner

    done = CliRunner().invoke(main, [], env=env, prog_name="constellation")
    assert done.stdout.split() == ["plain,orders"]


def test_completion_without_a_home_offers_nothing_and_makes_none(tmp_home: Path) -> None:
    ctx = click.Context(main, info_name="constellation")
    assert complete_function_names(ctx, None, "") == []  # type: ignore[arg-type]
    assert not tmp_home.exists()


def test_completion_against_a_server_that_is_down_offers_nothing(tmp_home: Path) -> None:
    ctx = click.Context(main, info_name="constellation")
    ctx.params = {"server": "http://127.0.0.1:9", "token": "t"}
    assert complete_function_names(ctx, None, "") == []  # type: ignore[arg-type]


@pytest.mark.parametrize("columns", ["40", "100", "250"])
def test_on_a_terminal_of_any_width_identifiers_stay_whole(
    tmp_home: Path, monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    _create(tmp_home, LONG)
    monkeypatch.setattr("constellation.cli._output._is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", columns)
    done = cli("functions", "list")
    with Constellation(tmp_home) as platform:
        fid = platform.serverless.get_function(LONG).id
    row = next(line for line in done.stdout.splitlines() if LONG in line)
    assert fid in row  # name and id whole, on one line
