"""Anomaly detection: streaming detectors and rules (see issue "Anomaly detection"). Not built yet."""

__all__: list[str] = []
