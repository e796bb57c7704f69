"""Constellation: the composition root that wires the platform's parts together.

One ``Constellation`` owns the settings, the SQLite store, the metric series, and, made
on first use, the serverless service and the deployment manager. It only composes: each
policy lives in its capability (GPU placement in :class:`~constellation.gpu.GpuManager`,
scaling in the autoscaler, forecasts in :mod:`constellation.predictive`, detection in
:mod:`constellation.anomaly`); here parts are made, handed their hooks, started, stopped.
The seed's core calls (``deploy``, ``scale_up``, ``create_cluster``, ``list_instances``,
...) come from :class:`~constellation._core_api.CoreAPI`, mixed in.

Library mode equals server mode. A functions service gets, when it is made, the forecaster
(``enable_predictive_scaling`` works in a script) and, on a platform with background
loops, the default anomaly detectors on its metrics (:data:`DEFAULT_DETECTORS`); its own
loops (async dispatch, the autoscaler, warm pools, timers) start on its first use.
``background=False`` (the CLI's read-only mode) starts none of them. :meth:`start`
adds what only a server needs: deployments' recovery, the control loop, and the release
of GPUs that a crashed process's function instances held.

The module-level API (``constellation.deploy``, ``serverless.create_function``,
``anomaly.get_active``, ...) acts on :func:`default_platform`: made on first use under
``$CONSTELLATION_HOME``, closed at interpreter exit (``atexit``; :meth:`close` is
idempotent). A started platform (``serve``, ``run``) is the default when none is open;
:func:`current_default_platform` says which, without making one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import defaults
from ._control import ControlTables
from ._core_api import CoreAPI, deployment_owner
from .config import Settings, load_settings
from .errors import ClosedError, NotFoundError
from .store import Store
from .telemetry import Telemetry

_log = logging.getLogger("constellation.platform")

if TYPE_CHECKING:
    from .anomaly import AnomalyRegistry, TelemetryWatcher
    from .deployments import DeploymentManager, DeploymentScaler
    from .gpu import GpuManager
    from .predictive import PredictiveService
    from .serverless import Forecast, FunctionInfo, ServerlessService

# The autoscaler trusts a forecast whose confidence reaches this (the seed's 0.8).
FORECAST_CONFIDENCE_THRESHOLD = 0.8

# Every function gets these detectors (watched metric glob, method, sensitivity).
# The default detectors see each function's series in 1 s windows (the mean of each
# window), not every invocation: see constellation.anomaly._watch.
DETECTOR_WINDOW_S = 1.0
# How often the detectors' watcher reads the series (it polls: an invocation pays nothing
# for the feed); a window is fed at most this long after it ends.
DETECTOR_POLL_S = 0.25
DEFAULT_DETECTORS: list[tuple[str, str, float | None]] = [
    ("function_duration_ms", "ensemble", None),
    ("function_error_rate", "threshold", 0.25),  # an EWMA over about 10 invocations
]

# The owners of function instances' GPU allocations (the local backend names them
# ``function:<name>:<instance id>``); none outlives its platform.
FUNCTION_GPU_OWNERS = "function:"

__all__ = [
    "Constellation",
    "current_default_platform",
    "default_platform",
    "reset_default_platform",
]


class Constellation(CoreAPI):
    """The platform. Use as a context manager, or call :meth:`close` (idempotent)."""

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        **overrides: Any,
    ) -> None:
        if settings is None:
            if home is not None:
                overrides["home"] = Path(home)
            settings = load_settings(overrides)
        self.settings = settings
        self.clock = clock
        self.store = Store(settings.db_path)
        self.telemetry = Telemetry()
        self.background = background
        self.control = ControlTables(self.store)
        self._serverless: ServerlessService | None = None
        self._deployments: DeploymentManager | None = None
        self._deployment_scaler: DeploymentScaler | None = None
        self._anomaly: AnomalyRegistry | None = None
        self._predictive: PredictiveService | None = None
        self._gpu: GpuManager | None = None
        self._unwatch: TelemetryWatcher | None = None
        self._wired: ServerlessService | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._stop = threading.Event()
        self._control_thread: threading.Thread | None = None

    @property
    def serverless(self) -> ServerlessService:
        """The functions service (a new one after ``serverless.shutdown()``)."""
        with self._lock:
            self._check_open()
            service = self._serverless
            if service is None or service.closed:
                from .serverless import ServerlessService

                service = self._serverless = ServerlessService(
                    self.store,
                    self.settings,
                    telemetry=self.telemetry,
                    clock=self.clock,
                    background=self.background,
                    gpu_allocate=self._allocate_function_gpus,  # the local backend's GPUs
                    gpu_release=self._release_function_gpus,
                    forecaster=self.forecast_concurrency,
                    on_code_mismatch=self._code_mismatch,
                )
            self._wire_serverless(service)
            return service

    @property
    def active_serverless(self) -> ServerlessService | None:
        """The functions service if one is made and not shut down; makes nothing."""
        service = self._serverless
        return service if service is not None and not service.closed else None

    @property
    def active_predictive(self) -> PredictiveService | None:
        """The forecasts service if one is made; makes nothing (the dashboard looks
        without loading the forecasting libraries)."""
        return self._predictive

    @property
    def active_gpu(self) -> GpuManager | None:
        """The GPU manager if one is made; makes nothing (no discovery runs)."""
        return self._gpu

    def _wire_serverless(self, service: ServerlessService) -> None:
        """Library mode equals server mode: a functions service gets the forecaster, and
        on a platform that runs loops (``background``) the default anomaly detectors on its
        metrics, whoever made it (``serve``, a script, the module-level API). Once each."""
        if self._wired is service:
            return
        self._wired = service
        if self.background:
            _ = self.anomaly

    def _code_mismatch(self, function: str, code_hash: str) -> None:
        """Stored code changed after deploy (the backend refused to start it): a
        critical anomaly, so it shows where operators look."""
        try:
            self.anomaly.record(
                f"function.{function}.code_integrity",
                1.0,
                0.0,
                severity="critical",
                type="threshold",  # a hash that should be equal and is not
                recommendation=f"code/{code_hash[:12]}... was modified: deploy the code again",
            )
        except Exception:  # the refusal itself must not fail for want of a record
            _log.exception("could not record the code mismatch of %s", function)

    # The local backend's GPU hooks: the GPU capability decides (gpu.GpuManager).
    def _allocate_function_gpus(self, owner: str, request: dict[str, Any]) -> dict[str, str]:
        return self.gpu.allocate_env(owner, dict(request))

    def _release_function_gpus(self, owner: str) -> None:
        if self._gpu is not None:  # none made: nothing was allocated
            self._gpu.release(owner)

    @property
    def deployments(self) -> DeploymentManager:
        """Long-running scripts as supervised instances."""
        with self._lock:
            self._check_open()
            if self._deployments is None:
                from .deployments import DeploymentManager

                self._deployments = DeploymentManager(
                    self.store,
                    self.settings,
                    clock=self.clock,
                    supervise=self.background,
                    telemetry=self.telemetry,
                    gpu_env=self._deployment_gpu_env,
                    on_instance_start=self._deployment_started,
                )
                if self.background:
                    self._deployments.recover()
                self._deployment_scaler = self._make_deployment_scaler(self._deployments)
            return self._deployments

    # Predictive scaling of deployments in predictive_scaling clusters: the same
    # forecaster as the functions' autoscaler, over the metric each deployment names.
    def _make_deployment_scaler(self, manager: DeploymentManager) -> DeploymentScaler:
        from .deployments import DeploymentScaler

        scaler = DeploymentScaler(manager, self._forecast_metric, self._latest_metric, self.clock)
        if self.background:
            scaler.start()
        return scaler

    @property
    def deployment_scaler(self) -> DeploymentScaler:
        """Sizes autoscaled deployments of predictive_scaling clusters (``tick(now)``)."""
        _ = self.deployments
        assert self._deployment_scaler is not None
        return self._deployment_scaler

    def _forecast_metric(self, metric: str, lead_time_s: float) -> float | None:
        from .predictive import PredictiveError

        try:
            prediction = self.predictive.forecast(metric, lead_time_s)
        except PredictiveError:
            return None  # too little history yet: the observed value decides
        return prediction.value if prediction.confidence >= FORECAST_CONFIDENCE_THRESHOLD else None

    def _latest_metric(self, metric: str) -> float | None:
        found = self.telemetry.find(metric)
        exact = [s for s in found if s.key == metric] or found
        last = exact[0].last() if len(exact) == 1 else None
        return None if last is None else last.value

    @property
    def anomaly(self) -> AnomalyRegistry:
        """Anomaly detection over the platform's own metrics, stored with its state.

        Detectors are fed from a background thread (never on an invocation's hot path);
        every function gets :data:`DEFAULT_DETECTORS` on its duration and error rate, fed
        one point per :data:`DETECTOR_WINDOW_S` window (the mean of the window).
        """
        with self._lock:
            self._check_open()
            if self._anomaly is None:
                from .anomaly import AnomalyRegistry, watch_telemetry

                self._anomaly = AnomalyRegistry(store=self.store, clock=self.clock)
                self._unwatch = watch_telemetry(
                    self.telemetry,
                    self._anomaly,
                    auto=DEFAULT_DETECTORS,
                    window_s=DETECTOR_WINDOW_S,
                    poll_s=DETECTOR_POLL_S,
                    clock=self.clock,
                )
            return self._anomaly

    @property
    def predictive(self) -> PredictiveService:
        """Forecasts over the platform's own metric series (``predict(metric, horizon)``);
        the autoscaler asks it for each predictive function's concurrency."""
        with self._lock:
            self._check_open()
            if self._predictive is None:
                from .predictive import PredictiveService

                self._predictive = PredictiveService(clock=self.clock)
                self._predictive.set_series_source(self.telemetry)
                self._predictive.attach_store(self.store)  # restores saved predictors
            return self._predictive

    def forecast_concurrency(self, info: FunctionInfo, lead_time_s: float) -> Forecast | None:
        """The autoscaler's forecaster: the function's concurrency ``lead_time_s`` ahead."""
        from .predictive import PredictiveError
        from .serverless import Forecast

        metric = f'function_concurrency{{function="{info.name}"}}'
        try:
            prediction = self.predictive.forecast(metric, lead_time_s)
        except PredictiveError:
            return None  # too little history yet: the reactive count decides
        return Forecast(prediction.value, prediction.confidence, FORECAST_CONFIDENCE_THRESHOLD)

    def flush_metrics(self) -> None:
        """Feed the anomaly detectors every metric point not yet read, and every open
        window, now (for tests)."""
        if self._unwatch is not None:
            self._unwatch.poll()
            self._unwatch.close_windows()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this Constellation is closed")

    @property
    def gpu(self) -> GpuManager:
        """GPU discovery and allocations, stored with the platform's state."""
        with self._lock:
            self._check_open()
            if self._gpu is None:
                from .gpu import GpuManager, MpsDaemon

                # The MPS control daemon lives under the platform's home; it starts when a
                # share first needs it and ends with the manager.
                mps = MpsDaemon(self.settings.home / "mps")
                self._gpu = GpuManager(self.store, clock=self.clock, mps=mps)
            return self._gpu

    def use_gpu_manager(self, manager: GpuManager) -> None:
        """Install a GPU manager (e.g. one over a simulated inventory)."""
        with self._lock:
            self._gpu = manager

    # The deployment manager's GPU hooks: the deployment's allocation decides the devices
    # its processes see, and its processes are noted on it.
    def _deployment_gpu_env(self, name: str, gpu_id: str) -> dict[str, str] | None:
        return self._gpu.env_of(deployment_owner(name)) if self._gpu is not None else None

    def _deployment_started(self, name: str, instance_id: str, pid: int) -> None:
        if self._gpu is not None:
            self._gpu.note_process(deployment_owner(name), pid)

    def start(self) -> None:
        """Start everything a server runs: functions' loops, deployments, the control loop.

        Function instances do not outlive their platform, so GPUs that a previous process's
        instances held (it crashed) are given back first. The platform becomes the process's
        default (:func:`default_platform`) unless one is open, so the module-level API of a
        served process (``anomaly.get_active()``, ...) acts on what it serves.
        """
        self.gpu.release_owners(FUNCTION_GPU_OWNERS)
        self.serverless.init()
        _ = self.deployments
        _ = self.anomaly
        defaults.adopt_default_platform(self)  # a server is its process default
        if self._control_thread is None:
            self._control_thread = threading.Thread(
                target=self._control_loop, name="control", daemon=True
            )
            self._control_thread.start()

    def _control_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.run_control_once()
            except ClosedError:
                return

    def run_control_once(self) -> None:
        """Publish the instance list and carry out requests left by other processes."""
        for request in self.control.pending():
            if request["action"] != "restart_instance":
                self.control.answer(request["id"], f"error: unknown action {request['action']!r}")
                continue
            try:
                self.restart_instance(request["target"])
                self.control.answer(request["id"], "restarted")
            except NotFoundError as exc:
                self.control.answer(request["id"], f"error: {exc}")
        self.control.publish(self.list_instances())

    def close(self) -> None:
        """Stop every instance, flush the ledger, close the store. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            serverless, deployments = self._serverless, self._deployments
        self._stop.set()
        if self._control_thread is not None:
            self._control_thread.join(timeout=5.0)
            self.control.withdraw()
        if serverless is not None:
            serverless.shutdown()
        if self._deployment_scaler is not None:
            self._deployment_scaler.close()
        if deployments is not None:
            deployments.close()
        if self._unwatch is not None:
            self._unwatch.close()
        if self._anomaly is not None:
            self._anomaly.shutdown()
        if self._gpu is not None:
            self._gpu.close()
        if self._predictive is not None:
            self._predictive.shutdown()
        self.store.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Constellation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_platform() -> Constellation:
    """The process-wide platform behind the module-level API: made on first use under
    ``$CONSTELLATION_HOME`` (after a close, a new one), closed at interpreter exit.
    The slot is :mod:`constellation.defaults`, where capabilities find it too."""
    return cast(Constellation, defaults.default_platform())


def current_default_platform() -> Constellation | None:
    """The default platform if one is open; None otherwise (makes nothing)."""
    return cast("Constellation | None", defaults.current_default_platform())


def reset_default_platform() -> None:
    """Close the default platform; the next module-level call makes a new one."""
    defaults.reset_default_platform()


defaults.register_platform_factory(Constellation)
