"""The Ray backend: function instances (and deployment scripts) run as Ray actors.

:class:`RayBackend` starts function instances as actors placed by Ray's scheduler with
each function's resources; :class:`RayScripts` runs deployment instances' scripts the
same way. Both share one Ray connection per process. Ray itself is imported only when
a backend first connects (``pip install 'constellation[ray]'``).
"""

from __future__ import annotations

from ._backend import RayBackend
from ._scripts import RayProcess, RayScripts

__all__ = ["RayBackend", "RayProcess", "RayScripts"]
