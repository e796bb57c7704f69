"""What the commands drive: one interface, two implementations.

:class:`LocalClient` works on this machine's store through the Python API (as the CLI
always did); :class:`~._remote.RemoteClient` sends the same calls to a server's REST API
(``constellation --server URL --token T ...``). Both answer with the REST API's JSON
shapes (plain dicts), so every command is written once and prints the same either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..errors import ValidationError
from ..platform import Constellation
from ..serverless import FunctionInfo, Trigger

__all__ = ["Client", "LocalClient", "Progress"]

# Told how far a long step has got: (done, total); total 0 when unknown.
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    pass


class Client(Protocol):
    """The calls the commands make. Failures raise ``ConstellationError`` subclasses."""

    where: str  # "local store at ..." or "server at ..."

    def list_functions(self) -> list[dict[str, Any]]: ...
    def get_function(self, name: str) -> dict[str, Any]: ...
    def create_function(
        self,
        name: str,
        code: Path,
        options: dict[str, Any],
        triggers: list[dict[str, Any]],
        progress: Progress = _no_progress,
    ) -> dict[str, Any]: ...
    def deploy_function(self, name: str) -> dict[str, Any]: ...
    def update_function(self, name: str, changes: dict[str, Any]) -> dict[str, Any]: ...
    def delete_function(self, name: str) -> None: ...
    def invoke(self, name: str, event: Any, timeout_ms: int | None) -> dict[str, Any]: ...
    def invoke_async(self, name: str, event: Any) -> str: ...
    def get_invocation(self, request_id: str) -> dict[str, Any]: ...
    def dead_letters(self, name: str | None) -> list[dict[str, Any]]: ...
    def redrive(self, request_id: str) -> dict[str, Any]: ...
    def metrics(self, name: str) -> dict[str, Any]: ...
    def billing(self, name: str, start: float, end: float | None) -> dict[str, Any]: ...
    def logs(self, name: str, limit: int) -> list[dict[str, Any]]: ...
    def scaling(self, name: str, limit: int) -> list[dict[str, Any]]: ...
    def instances(self, name: str) -> list[dict[str, Any]]: ...
    def triggers(self, name: str | None) -> list[dict[str, Any]]: ...
    def add_trigger(self, name: str, spec: dict[str, Any]) -> dict[str, Any]: ...
    def remove_trigger(self, trigger_id: str) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def anomalies(self, everything: bool) -> list[dict[str, Any]]: ...
    def resolve_anomaly(self, anomaly_id: str) -> dict[str, Any]: ...
    def close(self) -> None: ...


class LocalClient:
    """The platform in this process, on ``$CONSTELLATION_HOME``'s store."""

    def __init__(self, platform: Constellation) -> None:
        self.platform = platform
        self.service = platform.serverless
        self.where = f"local store at {platform.settings.home}"

    # -- shapes: the same as the REST API's ------------------------------------------------
    def _trigger(self, trigger: Trigger) -> dict[str, Any]:
        data = trigger.to_dict()
        info = self.service.registry.find(trigger.function_id)
        data["function_name"] = info.name if info else None
        return data

    def _function(self, info: FunctionInfo) -> dict[str, Any]:
        data = info.to_dict()
        data["triggers"] = [self._trigger(t) for t in self.service.triggers.list(info.id)]
        return data

    # -- functions -------------------------------------------------------------------------
    def list_functions(self) -> list[dict[str, Any]]:
        return [self._function(f) for f in self.service.list_functions()]

    def get_function(self, name: str) -> dict[str, Any]:
        return self._function(self.service.get_function(name))

    def create_function(
        self,
        name: str,
        code: Path,
        options: dict[str, Any],
        triggers: list[dict[str, Any]],
        progress: Progress = _no_progress,
    ) -> dict[str, Any]:
        from ..triggers import validate_trigger

        for i, spec in enumerate(triggers):  # checked before anything is created
            try:
                validate_trigger(spec)
            except ValidationError as exc:  # named as the REST API names it
                raise ValidationError(f"triggers[{i}].{exc.field}", exc.message) from None
        options = dict(options)
        info = self.service.create_function(
            name, options.pop("runtime"), options.pop("handler"), str(code), **options
        )
        progress(1, 1)
        try:
            for spec in triggers:
                self.service.add_trigger(info.id, spec)
        except BaseException:  # nothing half-created: the function goes with its triggers
            self.service.delete_function(info.id)
            raise
        return self._function(info)

    def deploy_function(self, name: str) -> dict[str, Any]:
        return self._function(self.service.deploy_function(name))

    def update_function(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._function(self.service.update_function(name, changes))

    def delete_function(self, name: str) -> None:
        self.service.delete_function(name)

    def invoke(self, name: str, event: Any, timeout_ms: int | None) -> dict[str, Any]:
        return self.service.invoke_sync(name, event, timeout_ms).to_dict()

    def invoke_async(self, name: str, event: Any) -> str:
        return self.service.invoke_async(name, event)

    def get_invocation(self, request_id: str) -> dict[str, Any]:
        return self.service.get_invocation(request_id).to_dict()

    def dead_letters(self, name: str | None) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.service.list_dead_letters(name)]

    def redrive(self, request_id: str) -> dict[str, Any]:
        return self.service.redrive(request_id).to_dict()

    def metrics(self, name: str) -> dict[str, Any]:
        m = self.service.get_function_metrics(name)
        return {**m.to_dict(), "success_rate": m.success_rate}

    def billing(self, name: str, start: float, end: float | None) -> dict[str, Any]:
        return self.service.get_billing(name, start, end).to_dict()

    def logs(self, name: str, limit: int) -> list[dict[str, Any]]:
        return self.service.get_logs(name, limit)

    def scaling(self, name: str, limit: int) -> list[dict[str, Any]]:
        return self.service.get_scaling_decisions(name, limit)

    def instances(self, name: str) -> list[dict[str, Any]]:
        """The function's instances a running platform (`constellation run`) publishes."""
        info = self.service.get_function(name)
        return [
            {
                "id": r["id"],
                "function_name": info.name,
                "status": r["status"],
                "pid": r["pid"],
                "uptime_s": r["uptime_s"],
            }
            for r in self.platform.control.published()
            if r["kind"] == "function" and r["owner"] in (info.name, info.id)
        ]

    # -- triggers --------------------------------------------------------------------------
    def triggers(self, name: str | None) -> list[dict[str, Any]]:
        return [self._trigger(t) for t in self.service.list_triggers(name)]

    def add_trigger(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._trigger(self.service.add_trigger(name, spec))

    def remove_trigger(self, trigger_id: str) -> None:
        self.service.remove_trigger(trigger_id)

    def stats(self) -> dict[str, Any]:
        return self.service.get_serverless_stats().to_dict()

    # -- anomalies -------------------------------------------------------------------------
    def anomalies(self, everything: bool) -> list[dict[str, Any]]:
        registry = self.platform.anomaly
        found = registry.history() if everything else registry.get_active()
        return [dataclasses.asdict(a) for a in found]

    def resolve_anomaly(self, anomaly_id: str) -> dict[str, Any]:
        return dataclasses.asdict(self.platform.anomaly.resolve(anomaly_id))

    def close(self) -> None:
        self.platform.close()
