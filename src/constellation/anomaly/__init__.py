"""Anomaly detection: streaming detectors and rules over metrics, with remediation callbacks.

Contract
--------
* **Detectors** share one streaming interface (river's): ``score_one(x, t=None)`` says
  how unusual ``x`` is without learning it; ``learn_one(x, t=None)`` learns it. Each is
  O(1) or O(log window) per value (the isolation forest: amortised retraining). The
  decision is separate: :class:`ThresholdFilter` flags ``score > threshold`` and keeps
  flagged values out of the state (up to ``max_protected`` in a row).
* **Sensitivity** means the same for every method: flag values about as rare as k
  standard deviations of a normal stream (see ``_sensitivity``; ``threshold`` takes
  the limit itself).
* **Methods** for :func:`create_detector`: ``zscore``
  (k standard deviations), ``iqr``, ``mad``, ``moving_average`` (the EWMA forecast
  error), ``isolation_forest``, ``threshold`` (the upper
  limit), ``rate_change``, ``pattern`` (same hour of the day or week), ``correlation``
  (``paired_with`` another metric) and ``ensemble`` (the default method: NAB-tuned
  context novelty with one alarm per event; 64.3 on NAB's standard profile).
* **Several metrics at once**: ``create_detector(metrics=[...], method="pca")`` (or
  ``"mset"``) and ``detect(d, {metric: value, ...})``: one vector per step, learnt from
  an initial normal period (``train``, 400) and adapting after; missing or NaN values
  are filled from the others; an anomaly names the metrics that contributed most
  (``Anomaly.contributors``).
* **Registry**: :class:`AnomalyRegistry` (or the module functions, which act on the
  default platform's registry: stored in its home, fed by its functions' metrics):
  ``detect`` returns the new or continuing :class:`Anomaly` (truthy) or None; a
  continuing anomaly updates one record and auto-resolves after ``auto_resolve_after``
  normal points; rules (glob patterns) set severity; ``on_detect`` callbacks get new
  anomalies at or above a severity. With a :class:`~constellation.store.Store`,
  anomalies persist in table ``anomaly_events``. Time comes from an injected clock.
* **Timestamps** may repeat or arrive up to ``timestamp_tolerance_s`` (60 s) late: such
  values are taken in arrival order at the last point's time.
* **Bad input** (NaN or infinite values, a timestamp later than the tolerance, unknown
  method, a sensitivity the method cannot use, unknown option) raises
  :class:`~constellation.errors.ValidationError` naming the field and what is allowed,
  and changes nothing. A constant series scores 0 (no division by zero, no alarm).
* **NAB**: :func:`score_series`, :func:`best_threshold` and friends re-implement the
  Numenta Anomaly Benchmark scorer (checked digit for digit against NAB's files).
* **Platform hooks**: ``AnomalyRegistry(store=..., clock=...)`` (:func:`set_registry`
  installs one for the module functions instead of the default platform's);
  :func:`watch_telemetry` feeds it from a :class:`~constellation.telemetry.Telemetry`
  (auto-creating per-series detectors); ``on_detect`` callbacks do the remediation. The
  platform makes its registry (``Constellation.anomaly``) and feeds it this way.

Imports: the base layer only (the default platform through :mod:`constellation.defaults`).
"""

from ._api import (
    create_detector,
    create_rule,
    destroy_detector,
    detect,
    get_active,
    get_registry,
    get_stats,
    init,
    is_running,
    on_detect,
    record,
    resolve,
    set_registry,
    shutdown,
)
from ._base import AnomalyError, Baseline, Detector, ThresholdFilter
from ._contextual import Correlation, Pattern, RateChange
from ._ensemble import Ensemble
from ._iforest import IsolationForest
from ._methods import METHODS
from ._mset import MSET
from ._multivariate import PCA, MultivariateDetector, MultivariateFilter
from ._nab_corpus import CostMatrix, NabSeries, load_nab_corpus, load_nab_profiles
from ._nab_scoring import (
    SeriesScore,
    best_threshold,
    normalized_score,
    null_score,
    score_corpus,
    score_series,
)
from ._records import ANOMALY_TYPES, SEVERITIES, Anomaly, Rule
from ._registry import AnomalyRegistry, MetricDetector
from ._statistical import IQR, MAD, MovingAverage, Threshold, ZScore
from ._watch import TelemetryWatcher, watch_telemetry

__all__ = [
    "ANOMALY_TYPES",
    "IQR",
    "MAD",
    "METHODS",
    "MSET",
    "PCA",
    "SEVERITIES",
    "Anomaly",
    "AnomalyError",
    "AnomalyRegistry",
    "Baseline",
    "Correlation",
    "CostMatrix",
    "Detector",
    "Ensemble",
    "IsolationForest",
    "MetricDetector",
    "MovingAverage",
    "MultivariateDetector",
    "MultivariateFilter",
    "NabSeries",
    "Pattern",
    "RateChange",
    "Rule",
    "SeriesScore",
    "TelemetryWatcher",
    "Threshold",
    "ThresholdFilter",
    "ZScore",
    "best_threshold",
    "create_detector",
    "create_rule",
    "destroy_detector",
    "detect",
    "get_active",
    "get_registry",
    "get_stats",
    "init",
    "is_running",
    "load_nab_corpus",
    "load_nab_profiles",
    "normalized_score",
    "null_score",
    "on_detect",
    "record",
    "resolve",
    "score_corpus",
    "score_series",
    "set_registry",
    "shutdown",
    "watch_telemetry",
]
