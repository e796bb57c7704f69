"""``constellation gpu ...`` through click's runner, on the fakes and on captures."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from constellation.gpu._cli import cli

from .conftest import H100_MIG, ROCM, XML


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_ls_without_gpus_says_why(fakes, tmp_home: Path) -> None:
    code, out = run("ls")
    assert code == 0
    assert out.startswith("No GPUs found. Backends tried:")
    assert "nvml" in out and "NVML Shared Library Not Found" in out
    assert "xpu-smi" in out and "no devices were found" in out


def test_ls_lists_a_simulated_capture(tmp_home: Path) -> None:
    code, out = run("ls", "--simulate", str(ROCM / "mi100_rocm602.json"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["ID", "NAME"]
    assert lines[1].startswith("amd:0  Arcturus GL-XL [Instinct MI100]  6/32752")
    assert len(lines) == 5


def test_ls_on_the_fakes_as_json(fakes, tmp_home: Path) -> None:
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    code, out = run("ls", "--json")
    assert code == 0 and '"name": "Tesla T4"' in out and '"status": "unavailable"' in out


def test_allocate_release_and_persist(tmp_home: Path) -> None:
    capture = str(XML / "dual_a5000-v13.xml")
    code, out = run("allocate", "job-1", "--memory-mb", "4096", "--simulate", capture)
    assert code == 0, out
    assert "allocated nvidia:0 to job-1 (shared)" in out
    assert "CUDA_VISIBLE_DEVICES=GPU-12345678-aaaa-bbbb-cccc-0123456789ab" in out
    code, out = run("allocations", "--simulate", capture)
    assert "job-1\tnvidia:0\tshared\t4096 MB" in out
    code, out = run("allocations", "--simulate", capture, "-o", "json")
    assert json.loads(out)["allocations"] == [
        {"owner": "job-1", "gpu_ids": ["nvidia:0"], "sharing": "shared", "memory_mb": 4096}
    ]
    code, out = run("allocate", "job-2", "--count", "3", "--simulate", capture)
    assert code == 1 and "does not fit: " in out and "3 GPU(s) needed" in out
    code, out = run("allocate", "job-3", "--memory-mb", "0", "--simulate", capture)
    assert code == 1 and "memory_mb: 0 must be > 0" in out
    assert run("release", "job-1", "--simulate", capture) == (0, "released job-1\n")
    code, out = run("release", "job-1", "--simulate", capture)
    assert code == 1 and "holds no GPU allocation" in out


def test_mig_plan_prints_commands_and_checks_limits(tmp_home: Path) -> None:
    code, out = run("mig", "plan", "nvidia:0", "3g.40gb", "3g.40gb", "--simulate", str(H100_MIG))
    assert code == 0, out
    assert out.splitlines() == [
        "nvidia-smi mig -i 0 -dci",
        "nvidia-smi mig -i 0 -dgi",
        "nvidia-smi mig -i 0 -cgi 3g.40gb,3g.40gb -C",
    ]
    code, out = run(
        "mig",
        "plan",
        "0",
        "1g.20gb",
        "1g.20gb",
        "1g.20gb",
        "1g.20gb",
        "1g.20gb",
        "--simulate",
        str(H100_MIG),
    )
    assert code == 1 and "5 x 1g.20gb is more than H100-80GB allows (4 per GPU)" in out
    code, out = run(
        "mig", "plan", "0", "4g.40gb", "3g.40gb", "1g.10gb", "--simulate", str(H100_MIG)
    )
    assert code == 1 and "needs 8 compute slices; a GPU has 7" in out
    code, out = run("mig", "plan", "0", "1g.10gb", "--simulate", str(XML / "tesla-t4.xml"))
    assert code == 1 and "has no known MIG table" in out
    code, out = run("mig", "plan", "0", "1g.10gb", "--simulate", str(XML / "a100-sxm4-v12.xml"))
    assert code == 0 and out.splitlines()[-1] == "nvidia-smi mig -i 0 -cgi 1g.10gb -C"


def test_mig_plan_apply_runs_nvidia_smi_and_reports_its_refusal(fakes, tmp_home: Path) -> None:
    fakes.serve("nvidia-smi", H100_MIG)
    code, out = run("mig", "plan", "0", "7g.80gb", "--apply")
    assert code == 1
    assert "nvidia-smi mig -i 0 -dci" in out  # printed before running
    assert "exited with 2" in out  # the capture holds no answer: the real tool's refusal path


def test_watch_prints_fresh_tables(tmp_home: Path) -> None:
    code, out = run(
        "watch", "--count", "2", "--interval", "0.05", "--simulate", str(XML / "tesla-t4.xml")
    )
    assert code == 0
    assert out.count("nvidia:0  Tesla T4") == 2
