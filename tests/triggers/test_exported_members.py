"""The public names of constellation.triggers are frozen here."""

from __future__ import annotations

from constellation import triggers
from constellation.errors import ConstellationError, UnavailableError

PUBLIC = {
    "RUNNER_TYPES",
    "TRIGGER_TYPES",
    "BrokerError",
    "Firing",
    "RoutePattern",
    "RunnerSupervisor",
    "Schedule",
    "StartRunner",
    "TimerScheduler",
    "Trigger",
    "TriggerRegistry",
    "compile_route",
    "parse_schedule",
    "BrokerUnavailableError",
    "TriggerError",
    "TriggerRunner",
    "TriggerStats",
    "emit",
    "emit_cloudevents",
    "make_event",
    "peek",
    "publish",
    "start_trigger",
    "validate_trigger",
}


def test_public_names() -> None:
    assert set(triggers.__all__) == PUBLIC
    for name in triggers.__all__:
        assert getattr(triggers, name) is not None


def test_error_hierarchy() -> None:
    assert issubclass(triggers.TriggerError, ConstellationError)
    assert issubclass(triggers.BrokerError, triggers.TriggerError)
    assert issubclass(triggers.BrokerUnavailableError, triggers.TriggerError)
    assert issubclass(triggers.BrokerUnavailableError, UnavailableError)
