"""What each trigger type accepts, as :func:`constellation.triggers.validate_trigger`
enforces it.

Public so that what describes the API (the server's request models and their OpenAPI)
states the same names, numbers and patterns as the code that refuses a bad spec.
"""

from __future__ import annotations

from ._broker_spec import (
    _EVENT_TYPE,
    _NAME,
    _NUMBERS,
    _QUEUE,
    _URL_SCHEMES,
    QUEUE_BROKERS,
    STREAM_BROKERS,
)
from ._http import (
    DEFAULT_MAX_QUEUED,
    EVENT_FORMATS,
    HTTP_METHODS,
    MAX_PATH_LENGTH,
    RESERVED_PREFIXES,
)
from ._schedule import MACROS

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "EVENT_FORMATS",
    "EVENT_TYPE_PATTERN",
    "HTTP_METHODS",
    "MACROS",
    "MAX_PATH_LENGTH",
    "NAME_PATTERN",
    "NUMBERS",
    "QUEUE_BROKERS",
    "QUEUE_PATTERN",
    "RESERVED_PREFIXES",
    "STREAM_BROKERS",
    "URL_SCHEMES",
]

NAME_PATTERN = _NAME.pattern  # a consumer group, a NATS stream, a trigger's name
QUEUE_PATTERN = _QUEUE.pattern  # a queue, stream or subject
EVENT_TYPE_PATTERN = _EVENT_TYPE.pattern  # an event type glob
URL_SCHEMES = _URL_SCHEMES  # the URL prefixes each broker takes
# A broker trigger's numeric options: name -> (default, low, high, integer?).
NUMBERS = _NUMBERS
