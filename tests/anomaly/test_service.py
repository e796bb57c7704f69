"""The seed's shapes: ``anomaly.service_name`` and ``constellation.restart_service``."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.anomaly import Anomaly, AnomalyRegistry
from constellation.errors import NotFoundError, ValidationError
from constellation.platform import Constellation
from tests._support import FakeClock, wait_until

HANDLERS = str(Path(__file__).resolve().parents[1] / "fixtures" / "serverless" / "handlers.py")
WORKER = "import time\nwhile True:\n    time.sleep(0.2)\n"


def test_an_anomaly_names_its_service(registry: AnomalyRegistry, clock: FakeClock) -> None:
    d = registry.create_detector("queue_depth", "threshold", 10.0, service_name="billing")
    clock.advance(1)
    assert registry.detect(d, 50.0).service_name == "billing"  # type: ignore[union-attr]
    other = registry.create_detector("cpu", "threshold", 10.0)
    found = registry.detect(other, 50.0, service_name="search")
    assert found is not None and found.service_name == "search"
    assert "of search" in found.recommendation
    with pytest.raises(ValidationError, match="service_name"):
        registry.create_detector("x", "zscore", service_name="")


def test_a_function_anomaly_restarts_its_service_from_on_detect(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home") as platform:
        sls = platform.serverless
        f = sls.create_function("fragile", "python", "always_fail", HANDLERS)
        seen: list[Anomaly] = []

        def remediate(anomaly: Anomaly) -> None:
            seen.append(anomaly)
            assert anomaly.service_name is not None
            platform.restart_service(anomaly.service_name)

        platform.anomaly.on_detect(remediate)
        first = sls.invoke_sync(f.id)
        for _ in range(4):
            sls.invoke_sync(f.id)
        platform.flush_metrics()
        assert [a.service_name for a in seen] == ["fragile"]
        assert sls.invoke_sync(f.id).instance_id != first.instance_id
        with pytest.raises(NotFoundError, match="service"):
            platform.restart_service("no-such-service")


def test_restart_service_restarts_every_instance_of_a_deployment(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(WORKER)
    with Constellation(tmp_path / "home") as platform:
        platform.deploy("svc", {"script": str(script), "instances": 2})

        def running() -> set[str] | None:
            rows = platform.deployments.list_instances("svc")
            ids = {r.id for r in rows if r.status == "running"}
            return ids if len(ids) == 2 and len(rows) == 2 else None

        before = wait_until(running, what="two running instances")
        platform.restart_service("svc")
        after = wait_until(
            lambda: (ids := running()) and not (ids & before) and ids,
            what="two new instances",
        )
        assert len(after) == 2
