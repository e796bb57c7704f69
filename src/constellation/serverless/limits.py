"""The limits a function's settings must keep, as the checks enforce them.

Public so that what describes the API (the server's request models and their OpenAPI)
states the same numbers and patterns as the code that refuses bad input.
"""

from __future__ import annotations

from ._validation import (
    _DNS_LABEL,
    _ENV_NAME,
    CONCURRENCY_RANGE,
    MEMORY_RANGE,
    PREWARM_RANGE,
    RUNTIMES,
    TIMEOUT_RANGE,
)

__all__ = [
    "CONCURRENCY_RANGE",
    "ENV_NAME_PATTERN",
    "MEMORY_RANGE",
    "NAME_PATTERN",
    "PREWARM_RANGE",
    "RUNTIMES",
    "TIMEOUT_RANGE",
]

NAME_PATTERN = _DNS_LABEL.pattern  # a function's name: a DNS label
ENV_NAME_PATTERN = _ENV_NAME.pattern  # an environment variable's name
