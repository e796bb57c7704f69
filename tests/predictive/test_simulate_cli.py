"""`constellation simulate`: the JSON report's keys, the table, and a bad file's error."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from constellation.cli import main


def trace_file(tmp_path: Path) -> Path:
    rows = ["minute,function,invocations,duration_ms"]
    rows += [f"{m},timer,1,500" for m in range(0, 600, 30)]
    rows += [f"{m},busy,{20 + m % 7},200" for m in range(600)]
    path = tmp_path / "trace.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_simulate_all_policies_as_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["simulate", "--trace", str(trace_file(tmp_path)), "--policy", "all", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["functions"] == 2 and report["minutes"] == 600
    policies = report["policies"]
    assert set(policies) == {"fixed-keepalive", "reactive", "hybrid-histogram", "predictive"}
    for r in policies.values():
        assert r["invocations"] == 20 + sum(20 + m % 7 for m in range(600))
        assert 0 <= r["cold_start_pct_p50"] <= r["cold_start_pct_p75"] <= 100
        assert r["idle_instance_seconds"] <= r["instance_seconds"]
        assert isinstance(r["cold_starts"], int)
    # the timer calls every 30 minutes: the fixed 10-minute keep-alive misses each one
    assert policies["fixed-keepalive"]["cold_starts"] >= 20


def test_simulate_one_policy_prints_a_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["simulate", "--trace", str(trace_file(tmp_path)), "--policy", "reactive"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2 functions, 600 minutes"
    assert lines[2].split()[0] == "reactive" and len(lines) == 3


def test_a_bad_trace_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("minute,function,invocations\n0,a,1\n1,a,lots\n")
    result = CliRunner().invoke(main, ["simulate", "--trace", str(path)])
    assert result.exit_code != 0
    assert f"{path}:3: column 'invocations'" in result.output and "'lots'" in result.output
