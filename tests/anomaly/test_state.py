"""Detectors' learnt baselines survive a restart (table anomaly_detectors)."""

from __future__ import annotations

import copy
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest

from constellation.anomaly import AnomalyRegistry
from constellation.platform import Constellation
from constellation.store import Store
from tests._support import FakeClock

HANDLERS = str(Path(__file__).resolve().parents[1] / "fixtures" / "serverless" / "handlers.py")


@pytest.mark.parametrize(
    ("method", "metrics"),
    [("ensemble", None), ("zscore", None), ("isolation_forest", None), ("pca", ["a", "b", "c"])],
)
def test_a_detector_resumes_where_it_stopped(tmp_path, clock: FakeClock, method, metrics) -> None:
    rng = np.random.default_rng(3)

    def value() -> object:
        if metrics is None:
            return float(rng.normal(100, 5))
        load = float(rng.normal())
        return {"a": load, "b": 2 * load + 0.1 * float(rng.normal()), "c": float(rng.normal())}

    path = tmp_path / "s.db"
    with Store(path) as store:
        first = AnomalyRegistry(store=store, clock=clock)
        d = first.create_detector("m", method, metrics=metrics) if metrics else None
        d = d or first.create_detector("m", method)
        assert not d.restored
        for _ in range(600):
            clock.advance(1)
            first.detect(d, value())  # type: ignore[arg-type]
        twin = copy.deepcopy(d)  # how the detector would have gone on without a restart
        first.shutdown()
    with Store(path) as store:
        second = AnomalyRegistry(store=store, clock=clock)
        again = second.create_detector("m", method, metrics=metrics) if metrics else None
        again = again or second.create_detector("m", method)
        assert again.restored and again.points == 600
        twin_model = twin._filter or twin._multi
        resumed, continued = [], []
        for _ in range(50):
            v = value()
            clock.advance(1)
            second.detect(again, v)  # type: ignore[arg-type]
            resumed.append(again.last_score)
            x = list(v.values()) if isinstance(v, dict) else v
            continued.append(twin_model.update(x)[0])  # type: ignore[union-attr]
        assert resumed == pytest.approx(continued)  # the same scores as without a restart
        second.shutdown()


def test_a_differently_configured_detector_starts_afresh(tmp_path, clock) -> None:
    with Store(tmp_path / "s.db") as store:
        reg = AnomalyRegistry(store=store, clock=clock)
        d = reg.create_detector("m", "zscore", 3.0)
        for v in range(100):
            reg.detect(d, float(v % 7))
        reg.shutdown()
        again = AnomalyRegistry(store=store, clock=clock)
        assert not again.create_detector("m", "zscore", 4.0).restored
        assert not again.create_detector("m", "zscore", 3.0, window=50).restored
        assert again.create_detector("m", "zscore", 3.0).restored


def test_a_tampered_state_is_not_run_and_not_restored(tmp_path, clock) -> None:
    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("executed",))

    with Store(tmp_path / "s.db") as store:
        reg = AnomalyRegistry(store=store, clock=clock)
        d = reg.create_detector("m", "zscore")
        reg.detect(d, 1.0)
        reg.shutdown()
        evil = zlib.compress(pickle.dumps({"model": Boom(), "points": 1}))
        store.execute("UPDATE anomaly_detectors SET state = ?", (evil,))
        again = AnomalyRegistry(store=store, clock=clock)
        fresh = again.create_detector("m", "zscore")
        assert not fresh.restored and fresh.points == 0


def test_destroying_a_detector_forgets_its_state(tmp_path, clock) -> None:
    with Store(tmp_path / "s.db") as store:
        reg = AnomalyRegistry(store=store, clock=clock)
        d = reg.create_detector("m", "zscore")
        reg.detect(d, 1.0)
        reg.save_states()
        reg.destroy_detector(d)
        assert store.query("SELECT * FROM anomaly_detectors") == []


def test_the_platforms_default_detectors_are_warm_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Constellation(home) as platform:
        f = platform.serverless.create_function("steady", "python", "noop", HANDLERS)
        for _ in range(3):
            platform.serverless.invoke_sync(f.id)
        platform.flush_metrics()
        learnt = {d.metric: d.points for d in platform.anomaly.detectors()}
        assert learnt and all(points > 0 for points in learnt.values())
    with Constellation(home) as again:
        again.serverless.invoke_sync("steady")
        again.flush_metrics()
        warm = {d.metric: (d.restored, d.points) for d in again.anomaly.detectors()}
        assert set(warm) == set(learnt)
        assert all(restored and points > learnt[m] for m, (restored, points) in warm.items())
