"""The seed's "Anomaly Detection" example and its microservices use case, in Python.

Run: ``.venv/bin/python examples/iguana/anomaly_detection.py`` (a private platform home in
a temporary folder unless ``CONSTELLATION_HOME`` is set). A real deployment ("api", one
process) stands in for the monitored service; its response times are simulated, normal
at first and then a spike; the critical anomaly restarts the instance, as the seed's
auto-remediation does.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

import constellation
from constellation import anomaly

SERVICE = "import time\nwhile True:\n    time.sleep(1)\n"


def _running_instance(name: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        rows = [r for r in constellation.list_instances() if r["owner"] == name]
        if rows and (rows[0]["status"] == "running" or time.monotonic() > deadline):
            return rows[0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"deployment {name!r} has no instance")
        time.sleep(0.05)


def main() -> None:
    script = Path(tempfile.mkdtemp()) / "api_service.py"
    script.write_text(SERVICE)
    constellation.deploy("api", {"script": str(script), "instances": 1})
    instance = _running_instance("api")
    print(f"Service api running as {instance['id']} (pid {instance['pid']})")

    detector = anomaly.create_detector(metric="response_time", method="zscore", sensitivity=3.0)
    anomaly.create_rule(
        name="high_latency", pattern="response_time", threshold=3.0, severity="warning"
    )
    anomaly.create_rule(
        name="latency_outage", pattern="response_time", threshold=8.0, severity="critical"
    )

    # The microservices use case: one detector per service metric.
    for service in ("auth", "api", "db"):
        anomaly.create_detector(service + "_latency", "zscore", 3.0)
        anomaly.create_detector(service + "_errors", "threshold", 0.05)

    restarted: list[str] = []

    def remediate(a: anomaly.Anomaly) -> None:  # auto-remediate
        if a.severity == "critical" and a.instance_id:
            constellation.restart_instance(a.instance_id)
            restarted.append(a.instance_id)
            print(f"Service api restarted due to anomaly ({a.instance_id})")

    anomaly.on_detect(remediate, severity="critical")

    rng = random.Random(7)
    values = [rng.gauss(120.0, 5.0) for _ in range(300)] + [480.0]
    now = time.time() - len(values) * 10
    for k, value in enumerate(values):  # one reading every 10 s, as the seed's loop
        if anomaly.detect(detector, value, timestamp=now + 10 * k, instance_id=str(instance["id"])):
            for a in anomaly.get_active():
                print("⚠️  Anomaly detected!")
                print(f"  Metric: {a.metric_name}")
                print(f"  Value: {a.detected_value:.1f}")
                print(f"  Expected: {a.expected_value:.1f}")
                print(f"  Confidence: {a.confidence:.2f}")
                print(f"  Severity: {a.severity}")
                print(f"  Recommendation: {a.recommendation}")

    after = _running_instance("api")
    print(f"Restarts: {len(restarted)}; pid {instance['pid']} -> {after['pid']}")
    stats = anomaly.get_stats()
    print(
        f"Detectors: {stats['detectors']}, points: {stats['points_processed']}, "
        f"anomalies detected: {stats['anomalies_detected']}"
    )
    constellation.undeploy("api")


if __name__ == "__main__":
    if "CONSTELLATION_HOME" not in os.environ:
        os.environ["CONSTELLATION_HOME"] = tempfile.mkdtemp(prefix="constellation-example-")
    main()
