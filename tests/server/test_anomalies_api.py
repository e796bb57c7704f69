"""GET /api/v1/anomalies: the anomalies of the platform being served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from constellation import anomaly

from .conftest import Served


@pytest.fixture
def registry(served: Served) -> Iterator[anomaly.AnomalyRegistry]:
    previous = anomaly.set_registry(served.platform.anomaly)  # as Constellation.start() does
    yield served.platform.anomaly
    anomaly.set_registry(previous)


def test_anomalies_are_listed_and_resolved(
    served: Served, registry: anomaly.AnomalyRegistry
) -> None:
    assert served.client.get("/api/v1/anomalies").json() == {"anomalies": []}
    recorded = registry.record(
        metric_name="disk_used",
        detected_value=97.0,
        expected_value=60.0,
        severity="critical",
        type="threshold",
        instance_id="i-1",
    )
    listed = served.client.get("/api/v1/anomalies").json()["anomalies"]
    assert [(a["id"], a["metric_name"], a["severity"], a["instance_id"]) for a in listed] == [
        (recorded.id, "disk_used", "critical", "i-1")
    ]
    done = served.client.post(f"/api/v1/anomalies/{recorded.id}/resolve")
    assert done.status_code == 200 and done.json()["resolved_at"] is not None
    assert served.client.get("/api/v1/anomalies").json() == {"anomalies": []}
    history = served.client.get("/api/v1/anomalies", params={"all": "true"}).json()["anomalies"]
    assert [a["id"] for a in history] == [recorded.id]
    missing = served.client.post("/api/v1/anomalies/nope/resolve")
    assert missing.status_code == 404


def test_anomalies_need_the_token(served: Served) -> None:
    import httpx

    assert httpx.get(f"{served.url}/api/v1/anomalies").status_code == 401
