"""The public names of constellation.predictive are frozen here: changing them is deliberate."""

from constellation import predictive

EXPECTED = {
    "read_traces",
    "read_trace",
    "TraceError",
    "Trace",
    "simulate",
    "ReplayReport",
    "ReplayConfig",
    "PolicyReport",
    "REPLAY_POLICIES",
    "ALIASES",
    "ARIMA",
    "MODELS",
    "AutoETS",
    "ExponentialSmoothing",
    "FitError",
    "Forecast",
    "ForecastProvider",
    "Forecaster",
    "InsufficientDataError",
    "LinearTrend",
    "Model",
    "ModelForecast",
    "Naive2",
    "NoSeriesError",
    "NotTrainedError",
    "Period",
    "Prediction",
    "PredictiveError",
    "PredictiveService",
    "PredictiveValidationError",
    "Predictor",
    "PredictorConfig",
    "RegularSeries",
    "STLForecaster",
    "MultiSeasonal",
    "SeasonalNaive",
    "SeriesSource",
    "Trend",
    "create",
    "default_service",
    "destroy",
    "detect_periods",
    "get",
    "init",
    "is_running",
    "make_model",
    "mstl",
    "predict",
    "regularize",
    "set_series_source",
    "shutdown",
    "stl",
    "telemetry_source",
}


def test_all_is_frozen() -> None:
    assert set(predictive.__all__) == EXPECTED


def test_every_exported_name_exists_and_private_modules_stay_private() -> None:
    for name in predictive.__all__:
        assert hasattr(predictive, name), name
    public_modules = [
        n
        for n in dir(predictive)
        if not n.startswith("_") and type(getattr(predictive, n)).__name__ == "module"
    ]
    assert public_modules == []


def test_models_list_names_every_model() -> None:
    assert predictive.MODELS[:2] == ("auto", "ensemble")
    for name in predictive.MODELS[2:]:
        assert predictive.make_model(name).fitted is False
