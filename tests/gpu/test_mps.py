"""MPS: the platform starts, supervises and stops the control daemon when a share needs it,
and the tenant's environment carries the caps the MPS server enforces (fake daemon)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.gpu import (
    Discovery,
    GpuManager,
    MpsDaemon,
    MpsUnavailable,
    StaticBackend,
    load_capture,
)
from constellation.store import Store

from .._support import wait_until

FAKE = str(Path(__file__).resolve().parent / "fakes" / "fake_mps_control.py")
CAPTURE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "gpu" / "nvidia-smi-xml"
    / "dual_a5000-v13.xml"
)  # fmt: skip


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[MpsDaemon]:
    with MpsDaemon(tmp_path / "mps", FAKE) as d:
        yield d


def _pid(d: MpsDaemon) -> int:
    return int((d.pipe_dir / "daemon.pid").read_text())


def test_ensure_starts_the_daemon_once_and_gives_the_client_env(daemon: MpsDaemon) -> None:
    env = daemon.ensure()
    assert env == {"CUDA_MPS_PIPE_DIRECTORY": str(daemon.pipe_dir),
                   "CUDA_MPS_LOG_DIRECTORY": str(daemon.log_dir)}  # fmt: skip
    assert daemon.running and (daemon.pipe_dir / "control").exists()
    daemon.ensure()
    assert daemon.starts == 1


def test_a_daemon_that_died_is_started_again(daemon: MpsDaemon) -> None:
    daemon.ensure()
    os.kill(_pid(daemon), signal.SIGKILL)
    wait_until(lambda: not daemon.running)
    (daemon.pipe_dir / "control").unlink()  # a killed daemon leaves its pipe behind
    daemon.ensure()
    assert daemon.running and daemon.starts == 2


def test_close_asks_it_to_quit_and_is_idempotent(daemon: MpsDaemon) -> None:
    daemon.ensure()
    daemon.close()
    assert not daemon.running
    assert not (daemon.pipe_dir / "control").exists()  # it quit by itself, not by a kill
    daemon.close()
    with pytest.raises(MpsUnavailable, match="closed"):
        daemon.ensure()


def test_missing_or_failing_daemons_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MpsUnavailable, match="not installed"):
        MpsDaemon(tmp_path / "a", binary=None).ensure()
    monkeypatch.setenv("FAKE_MPS_MODE", "die-at-start")
    with MpsDaemon(tmp_path / "b", FAKE) as d, pytest.raises(MpsUnavailable, match="code 3"):
        d.ensure()
    assert not d.running


def _manager(tmp_path: Path, daemon: MpsDaemon) -> GpuManager:
    discovery = Discovery([StaticBackend(load_capture(CAPTURE), name="simulate")])
    return GpuManager(Store(tmp_path / "db.sqlite"), discovery, mps=daemon)


def test_a_memory_share_starts_the_daemon_and_carries_its_caps(
    tmp_path: Path, daemon: MpsDaemon
) -> None:
    with _manager(tmp_path, daemon) as manager:
        whole = manager.allocate("a", {"gpu_count": 1})
        assert whole is not None and whole.enforcement == "whole GPU"
        assert not daemon.running  # a whole GPU needs no MPS
        shared = manager.allocate("b", {"gpu_count": 1, "memory_mb": 4096})
        assert shared is not None and shared.enforcement == "mps"
        assert daemon.running
        assert shared.env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=4096M"
        assert shared.env["CUDA_MPS_PIPE_DIRECTORY"] == str(daemon.pipe_dir)
        manager.deallocate("a")  # the other GPU is free again: an SM share goes there
        sm = manager.allocate("c", {"gpu_count": 1, "memory_mb": 2048, "compute_share": 30})
        assert sm is not None and sm.enforcement == "mps"
        assert sm.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "30"
        assert daemon.starts == 1  # one daemon serves every share
    assert not daemon.running  # the manager's close stops the daemon


def test_time_slicing_says_it_isolates_nothing(tmp_path: Path, daemon: MpsDaemon) -> None:
    with _manager(tmp_path, daemon) as manager:
        sliced = manager.allocate("t", {"gpu_count": 1, "sharing": "time_slice"})
        assert sliced is not None
        assert sliced.enforcement.startswith("none: time-slicing shares time only")
        assert not daemon.running


def test_without_a_daemon_a_share_is_marked_booked_only(tmp_path: Path) -> None:
    absent = MpsDaemon(tmp_path / "mps", binary=None)
    with _manager(tmp_path, absent) as manager:
        shared = manager.allocate("b", {"gpu_count": 1, "memory_mb": 4096})
        assert shared is not None
        assert shared.enforcement.startswith("none: nvidia-cuda-mps-control is not installed")
        assert "CUDA_MPS_PIPE_DIRECTORY" not in shared.env
