"""The public names of constellation.backends are frozen here."""

from __future__ import annotations

from constellation import backends
from constellation.errors import ConstellationError, UnavailableError

BACKENDS = {
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendNotInstalled",
    "BackendUnreachable",
    "Instance",
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
