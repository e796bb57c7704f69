"""What a GPU request accepts, as :class:`constellation.gpu.GpuRequest` checks it.

Public so that what describes the API (the server's request models and their OpenAPI)
states the same names as the code that refuses a bad request.
"""

from __future__ import annotations

from ._catalog import all_profile_names
from ._request import _VENDOR_ALIASES, PLACEMENTS, SHARING_MODES

__all__ = ["MIG_PROFILE_NAMES", "PLACEMENTS", "SHARING_MODES", "VENDOR_ALIASES"]

VENDOR_ALIASES = dict(_VENDOR_ALIASES)  # the names a request may give -> the vendor
MIG_PROFILE_NAMES = tuple(all_profile_names())  # every MIG profile of the known GPUs
