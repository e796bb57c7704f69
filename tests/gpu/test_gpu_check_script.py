"""benchmarks/gpu_check.py runs end to end (here on the fakes; for real on a GPU machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import FAKES, L40S

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_to_the_end_on_the_fakes(fakes, tmp_path: Path) -> None:
    out = tmp_path / "real"
    env = {
        **os.environ,
        "PYTHONPATH": str(FAKES),
        "FAKE_PYNVML_CAPTURE": str(L40S),
        "FAKE_NVIDIA_SMI_CAPTURE": str(L40S),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--out",
            str(out),
            "--loop-seconds",
            "0.3",
            "--repeat",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The exporter capture holds no `-q -x` output, so the XML path fails (exit 1); every
    # other check must pass.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 check(s) failed" in result.stdout
    assert "[FAIL] nvidia-smi xml path" in result.stdout
    assert "[ok] csv nvidia:0 uuid" in result.stdout
    assert "| one NVML sample, per GPU (median) |" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "nvidia-smi-L.txt",
        "nvidia-smi-q-x.xml",
        "nvml.json",
        "query-compute-apps.csv",
        "query-gpu.csv",
    ]
    assert "NVIDIA L40S" in (out / "query-gpu.csv").read_text()
