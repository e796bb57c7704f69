"""Predictive scaling: forecasts with intervals (see issue "Predictive scaling"). Not built yet."""

__all__: list[str] = []
