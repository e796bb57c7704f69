"""Freezes the public surface of constellation.anomaly (like httpx's test_exported_members)."""

import constellation.anomaly as anomaly

EXPECTED = {
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
    "TelemetryWatcher",
    "watch_telemetry",
}


def test_all_is_frozen() -> None:
    assert set(anomaly.__all__) == EXPECTED


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in anomaly.__all__:
        member = getattr(anomaly, name)
        if callable(member):
            assert member.__doc__ or name in {"init", "is_running", "get_stats"}, name


def test_package_root_error_derives_from_platform_root() -> None:
    from constellation.errors import ConstellationError

    assert issubclass(anomaly.AnomalyError, ConstellationError)
