"""Predictors in the platform's store: a restarted platform forecasts at once.

One row per predictor in ``predictive_models`` (schema migration 4): its config as
JSON and, pickled, its bounded samples, fitted model and accuracy history
(:meth:`Predictor.export_state`). ``kind`` is ``registered`` (made by ``create``) or
``derived`` (made by the service over a telemetry series). The store is the platform's
own SQLite file, written only by this process's code: that is what makes unpickling
it acceptable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
from collections.abc import Callable

from constellation.store import Store

from ._config import PredictorConfig
from ._predictor import Predictor

__all__ = ["PredictorStore"]

log = logging.getLogger("constellation.predictive")

KINDS = ("registered", "derived")


class PredictorStore:
    """Saves and loads predictors; one statement per call."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, predictor: Predictor, kind: str, now: float) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        config = dataclasses.asdict(predictor.config)
        config["periods"] = list(predictor.config.periods)
        state = pickle.dumps(predictor.export_state(), protocol=pickle.HIGHEST_PROTOCOL)
        trained_at = predictor.get_stats().get("trained_at")
        self.store.execute(
            "INSERT INTO predictive_models VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO "
            "UPDATE SET kind = excluded.kind, config = excluded.config, "
            "samples = excluded.samples, trained_at = excluded.trained_at, "
            "state = excluded.state, saved_at = excluded.saved_at",
            (
                predictor.metric_name,
                kind,
                json.dumps(config, sort_keys=True),
                len(predictor),
                trained_at,
                state,
                now,
            ),
        )

    def delete(self, name: str) -> None:
        self.store.execute("DELETE FROM predictive_models WHERE name = ?", (name,))

    def load(self, clock: Callable[[], float]) -> list[tuple[str, Predictor]]:
        """Every saved predictor as (kind, predictor); a row that no longer loads (a
        model class changed between releases) is logged and skipped."""
        out = []
        for row in self.store.query("SELECT * FROM predictive_models ORDER BY name"):
            try:
                config = json.loads(row["config"])
                config["periods"] = tuple(config["periods"])
                predictor = Predictor(PredictorConfig(**config), clock)
                predictor.load_state(pickle.loads(row["state"]))
            except Exception:  # a stale row must not stop the platform
                log.warning("predictor %r could not be restored; it retrains", row["name"])
                continue
            out.append((row["kind"], predictor))
        return out
