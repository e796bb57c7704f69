"""Predictive scaling of deployments in a ``predictive_scaling`` cluster.

A deployment opts in with an ``autoscale`` spec naming the metric that drives it::

    deploy("worker", script="w.py", cluster="batch", autoscale={
        "metric": 'queue_depth{queue="jobs"}',  # a telemetry series
        "target_per_instance": 10,              # metric units one instance handles
        "min_instances": 1, "max_instances": 20,
        "lead_time_s": 300,                     # how far ahead to forecast
        "scale_up_cooldown_s": 60, "scale_down_cooldown_s": 300,
    })

Each tick :func:`decide_replicas` (a pure function of the context, ``now`` included)
sizes it for the larger of the metric's latest value and its confident forecast
``lead_time_s`` ahead: ``ceil(max(observed, forecast) / target_per_instance)``, within
the bounds; a change waits for the cooldown since the scaler's last change of that
deployment. The forecaster and the metric reader are hooks the platform supplies (its
predictive service and telemetry), so this module imports neither.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import DeploymentClosedError, DeploymentValidationError
from ._spec import MAX_INSTANCES

if TYPE_CHECKING:
    from ._manager import DeploymentManager

__all__ = [
    "AUTOSCALE_OPTIONS",
    "AutoscaleSpec",
    "DeploymentScaler",
    "ReplicaContext",
    "ReplicaDecision",
    "decide_replicas",
    "parse_autoscale",
]

log = logging.getLogger("constellation.deployments")

AUTOSCALE_OPTIONS = (
    "metric",
    "target_per_instance",
    "min_instances",
    "max_instances",
    "lead_time_s",
    "scale_up_cooldown_s",
    "scale_down_cooldown_s",
)

# (metric, lead time in seconds) -> its confident forecast, or None
MetricForecaster = Callable[[str, float], float | None]
# metric -> its latest value, or None when it has none
MetricReader = Callable[[str], float | None]


@dataclasses.dataclass(frozen=True)
class AutoscaleSpec:
    metric: str
    target_per_instance: float
    min_instances: int = 0
    max_instances: int = 10
    lead_time_s: float = 300.0
    scale_up_cooldown_s: float = 60.0
    scale_down_cooldown_s: float = 300.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(field: str, value: object, low: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DeploymentValidationError(f"autoscale.{field}", f"{value!r} is not a number")
    if value < low or (open_low and value == low):
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        raise DeploymentValidationError(f"autoscale.{field}", f"{value!r} must be {bound}")
    return float(value)


def _count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INSTANCES:
        raise DeploymentValidationError(
            f"autoscale.{field}", f"{value!r} is not allowed; expected an integer 0-{MAX_INSTANCES}"
        )
    return value


def parse_autoscale(value: object) -> AutoscaleSpec | None:
    """Validate an ``autoscale`` option (a dict) into an :class:`AutoscaleSpec`."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DeploymentValidationError(
            "autoscale", f"{type(value).__name__} is not a mapping; expected a dict"
        )
    for key in value:
        if key not in AUTOSCALE_OPTIONS:
            raise DeploymentValidationError(
                f"autoscale.{key}", f"unknown option; allowed: {', '.join(AUTOSCALE_OPTIONS)}"
            )
    metric = value.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise DeploymentValidationError(
            "autoscale.metric", "is required; expected the name of a metric series"
        )
    if "target_per_instance" not in value:
        raise DeploymentValidationError(
            "autoscale.target_per_instance", "is required; expected a number > 0"
        )
    defaults = AutoscaleSpec(metric, 1.0)
    low = _count("min_instances", value.get("min_instances", defaults.min_instances))
    high = _count("max_instances", value.get("max_instances", defaults.max_instances))
    if high < max(1, low):
        raise DeploymentValidationError(
            "autoscale.max_instances",
            f"{high} must be at least 1 and at least min_instances ({low})",
        )
    return AutoscaleSpec(
        metric=metric,
        target_per_instance=_number(
            "target_per_instance", value["target_per_instance"], 0.0, open_low=True
        ),
        min_instances=low,
        max_instances=high,
        lead_time_s=_number(
            "lead_time_s", value.get("lead_time_s", defaults.lead_time_s), 0.0, open_low=True
        ),
        scale_up_cooldown_s=_number(
            "scale_up_cooldown_s", value.get("scale_up_cooldown_s", defaults.scale_up_cooldown_s), 0
        ),
        scale_down_cooldown_s=_number(
            "scale_down_cooldown_s",
            value.get("scale_down_cooldown_s", defaults.scale_down_cooldown_s),
            0,
        ),
    )


@dataclasses.dataclass(frozen=True)
class ReplicaContext:
    now: float
    current: int
    spec: AutoscaleSpec
    observed: float | None
    forecast: float | None
    last_change: float | None = None


@dataclasses.dataclass(frozen=True)
class ReplicaDecision:
    desired: int
    wanted: int  # before the cooldown
    reason: str


def decide_replicas(ctx: ReplicaContext) -> ReplicaDecision:
    """How many instances the deployment should have now (pure)."""
    spec = ctx.spec
    if ctx.observed is None and ctx.forecast is None:
        return ReplicaDecision(ctx.current, ctx.current, f"no value of {spec.metric!r} yet")
    observed = max(0.0, ctx.observed or 0.0)
    forecast = max(0.0, ctx.forecast or 0.0)
    load = max(observed, forecast)
    wanted = math.ceil(load / spec.target_per_instance - 1e-9)
    wanted = min(spec.max_instances, max(spec.min_instances, wanted))
    source = (
        f"forecast {forecast:g} in {spec.lead_time_s:g}s"
        if forecast > observed
        else f"observed {observed:g}"
    )
    reason = f"{source} / {spec.target_per_instance:g} per instance"
    if wanted == ctx.current:
        return ReplicaDecision(wanted, wanted, reason)
    cooldown = spec.scale_up_cooldown_s if wanted > ctx.current else spec.scale_down_cooldown_s
    if ctx.last_change is not None and ctx.now - ctx.last_change < cooldown:
        waited = ctx.now - ctx.last_change
        return ReplicaDecision(
            ctx.current, wanted, f"{reason}; cooling down ({waited:g}s of {cooldown:g}s)"
        )
    return ReplicaDecision(wanted, wanted, reason)


class DeploymentScaler:
    """Each tick, sizes every autoscaled deployment of a ``predictive_scaling`` cluster."""

    def __init__(
        self,
        manager: DeploymentManager,
        forecaster: MetricForecaster,
        reader: MetricReader,
        clock: Callable[[], float],
        tick_s: float = 15.0,
    ) -> None:
        self.manager = manager
        self.forecaster = forecaster
        self.reader = reader
        self.clock = clock
        self.tick_s = tick_s
        self._last_change: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: float | None = None) -> dict[str, ReplicaDecision]:
        """Decide and apply once for each autoscaled deployment; returns the decisions."""
        moment = self.clock() if now is None else now
        predictive = {c.name for c in self.manager.list_clusters() if c.predictive_scaling}
        decisions = {}
        for d in self.manager.list_deployments():
            spec = parse_autoscale(d.autoscale)
            if spec is None or d.cluster not in predictive:
                continue
            try:
                decision = decide_replicas(
                    ReplicaContext(
                        moment,
                        d.instances,
                        spec,
                        self.reader(spec.metric),
                        self.forecaster(spec.metric, spec.lead_time_s),
                        self._last_change.get(d.name),
                    )
                )
                if decision.desired != d.instances:
                    log.info(
                        "autoscale %s: %d -> %d (%s)",
                        d.name,
                        d.instances,
                        decision.desired,
                        decision.reason,
                    )
                    self.manager.scale(d.name, decision.desired)
                    self._last_change[d.name] = moment
            except DeploymentClosedError:
                raise
            except Exception:  # one deployment's failure must not stop the others'
                log.exception("autoscaling deployment %r failed", d.name)
                continue
            decisions[d.name] = decision
        return decisions

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:  # the loop outlives a bad tick
                log.exception("deployment autoscaler tick failed")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="deployment-autoscaler", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the loop. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
