"""The public names of constellation.backends are frozen here."""

from __future__ import annotations

from pathlib import Path

from constellation import backends
from constellation.errors import ConstellationError, UnavailableError

BACKENDS = {
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendNotInstalled",
    "BackendUnreachable",
    "FunctionSpec",
    "GpuAllocate",
    "GpuRelease",
    "Instance",
    "InstanceDied",
    "InstanceStartError",
    "InstanceTimedOut",
    "Isolation",
    "detect_isolation",
    "make_backend",
}


def test_backends_public_names() -> None:
    assert set(backends.__all__) == BACKENDS
    for name in backends.__all__:
        assert getattr(backends, name) is not None
    assert backends.BACKENDS == ("local", "ray")


def test_error_hierarchy() -> None:
    assert issubclass(backends.BackendError, ConstellationError)
    for error in (backends.BackendNotInstalled, backends.BackendUnreachable):
        assert issubclass(error, backends.BackendError)
        assert issubclass(error, UnavailableError)
    assert issubclass(backends.InstanceStartError, backends.BackendError)


def test_both_backends_have_the_backend_interface(tmp_path: Path) -> None:
    from constellation.backends.local import LocalBackend
    from constellation.backends.ray import RayBackend
    from constellation.platform import Constellation

    members = [n for n in vars(backends.Backend) if not n.startswith("_")]
    assert {"start", "check_handler", "launch", "close"} <= set(members)
    for cls in (LocalBackend, RayBackend):
        for name in members:
            assert hasattr(cls, name), (cls, name)
    assert (LocalBackend.name, RayBackend.name) == ("local", "ray")
    with Constellation(tmp_path / "home") as platform:
        assert isinstance(platform.serverless.launcher, LocalBackend)
