"""Constellation: a self-hosted distributed computing platform.

The core API of the seed: long-running scripts as supervised instances
(:func:`deploy`, :func:`scale_up`, :func:`scale_down`, :func:`restart_instance`,
:func:`create_cluster`, :func:`list_instances`) on the default platform, and
:class:`Constellation` for an explicit one. The capabilities are subpackages:
``constellation.serverless``, ``.wasm``, ``.gpu``, ``.predictive``, ``.anomaly``.

This module imports nothing heavy: worker processes import it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .platform import Constellation

__version__ = "0.1.0"

__all__ = [
    "Constellation",
    "__version__",
    "create_cluster",
    "deploy",
    "list_instances",
    "restart_instance",
    "restart_service",
    "scale_down",
    "scale_up",
    "undeploy",
]


def __getattr__(name: str) -> Any:
    if name == "Constellation":
        from .platform import Constellation

        return Constellation
    raise AttributeError(f"module 'constellation' has no attribute {name!r}")


def _platform() -> Constellation:
    from .platform import default_platform

    return default_platform()


def deploy(name: str, spec: dict[str, Any] | None = None, /, **options: Any) -> Any:
    """Run ``spec["script"]`` as ``spec["instances"]`` supervised processes."""
    return _platform().deploy(name, spec, **options)


def scale_up(name: str, instances: int = 1) -> Any:
    return _platform().scale_up(name, instances)


def scale_down(name: str, instances: int = 1) -> Any:
    return _platform().scale_down(name, instances)


def undeploy(name: str) -> None:
    _platform().undeploy(name)


def restart_instance(instance_id: str) -> None:
    """Restart a deployment instance, or replace a function's worker, by its id."""
    _platform().restart_instance(instance_id)


def restart_service(name: str) -> None:
    """Restart every instance of deployment ``name``, or recycle function ``name``'s
    workers (e.g. ``anomaly.on_detect(lambda a: restart_service(a.service_name))``)."""
    _platform().restart_service(name)


def create_cluster(spec: dict[str, Any] | None = None, /, **options: Any) -> Any:
    return _platform().create_cluster(spec, **options)


def list_instances() -> list[dict[str, Any]]:
    return _platform().list_instances()
