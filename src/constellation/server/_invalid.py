"""pydantic's validation errors in the platform's words: a :class:`ValidationError`
naming the field as the service would (``triggers[0].trigger.schedule``) and saying
what is allowed (``1 is out of range; expected 128-10240``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, get_args

import pydantic
from pydantic import BaseModel

from ..errors import ValidationError

__all__ = ["check"]


def check(fn: Callable[[Any], Any], data: Any, whole: str, kind: Any = None) -> Any:
    """``fn(data)``; its first error as a ValidationError. ``whole`` names the input as a
    whole (body, query, trigger); ``kind`` is its model, for the names of its fields."""
    try:
        return fn(data)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        model = _model_at(kind, first["loc"][:-1])
        allowed = list(model.model_fields) if model else []
        if model is not None and first["type"] in _BOUNDS:
            expected = _range(model, first["loc"][-1])
            if expected is not None:
                message = f"{first['input']!r} is out of range; expected {expected}"
                raise ValidationError(_field(first, whole), message) from None
        raise ValidationError(_field(first, whole), _message(first, allowed)) from None


def _model_at(kind: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the field at ``loc`` + one more step, following fields that
    are models themselves (not lists or unions)."""
    for part in loc:
        if not _is_model(kind):
            return None
        info = kind.model_fields.get(str(part))
        kind = info.annotation if info else None
        models = [k for k in get_args(kind) if _is_model(k)]  # a model or None
        kind = models[0] if len(models) == 1 else kind
    return kind if _is_model(kind) else None


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _range(model: type[BaseModel], name: Any) -> str | None:
    """A field's range as the platform writes it (``128-10240``, ``(0, 100]``), when it
    has both bounds."""
    info = model.model_fields.get(str(name))
    bounds: dict[str, Any] = {}
    for item in info.metadata if info else ():
        for key in ("ge", "gt", "le", "lt"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    if low is None or high is None:
        return None
    if "ge" in bounds and "le" in bounds:
        return f"{low}-{high}"
    return ("[" if "ge" in bounds else "(") + f"{low}, {high}" + ("]" if "le" in bounds else ")")


def _field(error: Any, whole: str) -> str:
    """Where the error is, named as the service names fields:
    ``("triggers", 0, "timer", "schedule")`` -> ``triggers[0].trigger.schedule``."""
    loc = error["loc"]
    parts: list[str] = []
    for i, part in enumerate(loc):
        if part == "[key]":
            continue  # a mapping's key: the key itself names the place
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _is_trigger_tag(loc, i, whole):
            parts.append(".trigger")  # the trigger union's tag (its "type")
        else:
            parts.append(f".{part}")
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        parts.append(".trigger.type")
    return "".join(parts).lstrip(".") or whole


def _is_trigger_tag(loc: tuple[Any, ...], i: int, whole: str) -> bool:
    if whole == "trigger":
        return i == 0
    return i == 2 and loc[0] == "triggers" and isinstance(loc[1], int)


_BOUNDS = {
    "greater_than_equal": ">=",
    "less_than_equal": "<=",
    "greater_than": ">",
    "less_than": "<",
}
_TYPES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "an object",
    "list_type": "a list",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _message(error: Any, allowed: Iterable[str] = ()) -> str:
    """What is wrong and what is allowed, in the platform's words."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return f"{value!r} is out of range; expected {_BOUNDS[kind]} {bound}"
    if kind in _TYPES:
        return f"{value!r} is not {_TYPES[kind]}"
    if kind in ("literal_error", "not_allowed"):
        return f"{value!r} is not allowed; expected {ctx['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match {ctx['pattern']}"
    if kind == "union_tag_invalid":
        return f"{ctx['tag']!r} is not allowed; expected one of {ctx['expected_tags']}"
    if kind == "union_tag_not_found":
        return "required: the trigger's type"
    text = str(error["msg"])
    return f"{value!r}: {text[0].lower()}{text[1:]}"
