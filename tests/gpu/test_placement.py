"""Placement for the platform's instances: what a function or deployment asks of the manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.errors import ValidationError
from constellation.gpu import Discovery, GpuManager, StaticBackend, load_capture
from constellation.store import Store

from .conftest import AMD_SMI_GPU_DATA, XML

A5000S = XML / "dual_a5000-v13.xml"


def _manager(store: Store, capture: Path = A5000S) -> GpuManager:
    return GpuManager(store, Discovery([StaticBackend(load_capture(capture))]))


def test_allocate_env_gives_the_environment_or_a_clear_refusal() -> None:
    with _manager(Store(":memory:")) as manager:
        env = manager.allocate_env("function:f:fi-1", {"gpu_count": 1})
        assert env["CUDA_VISIBLE_DEVICES"].startswith("GPU-")
        assert manager.env_of("function:f:fi-1") == env
        with pytest.raises(ValidationError, match="gpu: no GPU fits the request") as caught:
            manager.allocate_env("function:f:fi-2", {"gpu_count": 2})
        assert caught.value.field == "gpu"
        assert isinstance(caught.value, ValueError)  # what the launcher's hook expects
        assert manager.get_allocation("function:f:fi-2") is None
        assert manager.env_of("nobody") is None


def test_holding_gives_the_allocation_back_when_the_body_fails() -> None:
    with _manager(Store(":memory:")) as manager:
        with (
            pytest.raises(RuntimeError, match="deploy refused"),
            manager.holding("deployment:web", {"gpu_count": 2}) as allocation,
        ):
            assert manager.get_allocation("deployment:web") == allocation
            raise RuntimeError("deploy refused")
        assert manager.allocations() == []
        with manager.holding("deployment:web", {"gpu_count": 1}) as first:
            pass
        with manager.holding("deployment:web", {"gpu_count": 1}) as again:  # a redeploy
            assert again == first
        with (
            pytest.raises(ValidationError, match="no GPU fits"),
            manager.holding("deployment:big", {"gpu_count": 3}),
        ):
            pytest.fail("the body runs only with an allocation")


def test_note_process_only_for_an_owner_that_holds_gpus() -> None:
    with _manager(Store(":memory:")) as manager:
        assert not manager.note_process("deployment:cpu-only", 123)
        manager.allocate("deployment:gpu", {"gpu_count": 1})
        assert manager.note_process("deployment:gpu", 123)
        allocation = manager.get_allocation("deployment:gpu")
        assert allocation is not None and allocation.pids == (123,)


def test_release_owners_gives_back_a_prefix_orphans_included(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with _manager(store) as manager:
        manager.allocate("function:a:fi-1", {"gpu_count": 1})
        manager.allocate("deployment:keep", {"gpu_count": 1})
    # The A5000s are gone: both allocations are orphaned on this machine.
    with _manager(store, AMD_SMI_GPU_DATA) as other:
        assert set(other.stats()["orphaned"]) == {"function:a:fi-1", "deployment:keep"}
        assert other.release_owners("function:") == ["function:a:fi-1"]
        assert set(other.stats()["orphaned"]) == {"deployment:keep"}
        assert other.release_owners("function:") == []
        with pytest.raises(ValidationError, match="prefix"):
            other.release_owners("")
    store.close()


def test_release_after_close_keeps_the_row_for_the_next_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    manager = _manager(store)
    manager.allocate("function:a:fi-1", {"gpu_count": 1})
    manager.close()
    assert not manager.release("function:a:fi-1")  # the platform is going away
    with _manager(store) as next_start:
        assert next_start.release_owners("function:") == ["function:a:fi-1"]
        assert not next_start.release("function:a:fi-1")
    store.close()
