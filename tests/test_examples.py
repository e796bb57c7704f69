"""The seed's examples run and print the seed's report lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "iguana"


def _run(example: str, tmp_path: Path) -> str:
    """Run an example in its own platform home; returns what it printed."""
    env = {**os.environ, "CONSTELLATION_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout


def test_serverless_example_prints_the_seed_report(tmp_path: Path) -> None:
    out = _run("serverless_functions.py", tmp_path)
    for line in (
        "✅ Function deployed!",
        '   POST /api/orders -> 200 {"order_id":1,"status":"accepted","total":5.4',
        "Result: {'order_id': 12345, 'status': 'accepted', 'total': 107.99",
        "Metrics:",
        "  Total invocations: 2",
        "  Success rate: 100.0%",
        "  Cold starts: 0",
        "Predictive scaling: on",  # library mode: the forecaster is wired without start()
        "  Forecast in 60s: ",  # too little history for a number, unless the run took 20 s
        "  Active anomalies: 0",
        "Billing (last 24h):",
        "  Invocations: 2",
        "  Estimated cost: $",
    ):
        assert line in out, out


def test_wasm_example_prints_the_seed_report(tmp_path: Path) -> None:
    out = _run("wasm_instances.py", tmp_path)
    assert "Module loaded: " in out and "Exports: 3" in out
    assert "Result: 52" in out
    gas = int(out.split("Gas used: ")[1].split()[0])
    assert gas > 0
    assert "Calls before restore: 2" in out and "Calls after restore: 1" in out


def test_anomaly_example_detects_the_spike_and_restarts_the_instance(tmp_path: Path) -> None:
    out = _run("anomaly_detection.py", tmp_path)
    assert "⚠️  Anomaly detected!" in out and "  Metric: response_time" in out
    assert "  Value: 480.0" in out and "  Severity: critical" in out
    assert "sigma above its baseline" in out
    assert "Service api restarted due to anomaly" in out
    before, after = out.split("Restarts: 1; pid ")[1].split()[0:3:2]
    assert before != after
    assert "anomalies detected: 1" in out


def test_predictive_example_scales_up_ahead_of_the_peak(tmp_path: Path) -> None:
    out = _run("predictive_scaling.py", tmp_path)
    predicted = float(out.split("Predicted CPU: ")[1].split()[0])
    low, _, high = out.split("Range: ")[1].split()[:3]
    assert 80.0 < predicted < 92.0 and float(low) <= predicted <= float(high)
    assert "Proactively scaled up based on prediction" in out
    assert "web instances: 3" in out
