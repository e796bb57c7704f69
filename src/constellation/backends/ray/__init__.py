"""The Ray backend: function instances run as Ray actors on a Ray cluster.

:class:`RayBackend` starts function instances as actors placed by Ray's scheduler with
each function's resources; each actor forks a worker from a zygote on its node with the
local backend's pieces (:mod:`constellation.backends.local`), and WASM functions run in
the platform's process through a :class:`~constellation.backends.local.LocalBackend`.
Ray itself is imported only when a backend first connects
(``pip install 'constellation[ray]'``). The helpers below are shared with other users of
the cluster (the deployments' script runner): one Ray connection per process
(:func:`acquire`, :func:`release`), code shipped through the object store
(:func:`pack_code`, :func:`unpack_code`), where an actor runs (:func:`node_id`), whether a
node can host it (:class:`NodeView`) and why an actor failed (:func:`describe_ray_error`).
"""

from __future__ import annotations

from ._backend import RayBackend
from ._codeship import pack_code, unpack_code
from ._connect import acquire, release
from ._host import node_id
from ._instance import describe_ray_error
from ._placement import NodeView

__all__ = [
    "NodeView",
    "RayBackend",
    "acquire",
    "describe_ray_error",
    "node_id",
    "pack_code",
    "release",
    "unpack_code",
]
