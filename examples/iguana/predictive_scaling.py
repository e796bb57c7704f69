"""The seed's "Predictive Scaling" example (RADS ``main()``), in Python.

Run: ``.venv/bin/python examples/iguana/predictive_scaling.py``. The CPU readings are
simulated (a daily cycle with noise peaking in five minutes, one sample a minute, the
last day), and a real
deployment ("web", one process) is scaled up when the forecast says so, as in the seed.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from pathlib import Path

import constellation
from constellation import predictive

SERVICE = "import time\nwhile True:\n    time.sleep(1)\n"


def main() -> None:
    script = Path(tempfile.mkdtemp()) / "web.py"
    script.write_text(SERVICE)
    constellation.deploy("web", {"script": str(script), "instances": 1})

    config = {
        "metric_name": "cpu_usage",
        "model": "ensemble",
        "training_window": 86400,  # a day of history
        "confidence_threshold": 0.8,
    }
    predictor = predictive.create(config)

    rng = random.Random(3)
    now = time.time()
    start = now - 86400
    for k in range(1440):  # one sample a minute
        t = start + 60 * k
        # The daily peak (85%) falls just after "now": the forecast should see it coming.
        phase = 2 * math.pi * (t + 86400 - now - 300) / 86400
        value = 60 + 25 * math.cos(phase) + rng.gauss(0, 2)
        predictor.add_sample(value, t)

    predictor.train()
    prediction = predictor.predict(300)  # 5 minutes ahead

    print(f"Predicted CPU: {prediction.value:.1f}")
    print(f"Confidence: {prediction.confidence:.2f}")
    print(f"Range: {prediction.lower_bound:.1f} - {prediction.upper_bound:.1f}")
    print(f"Model: {prediction.model}; trend: {predictor.get_trend()}")

    if prediction.value > 80.0 and prediction.confidence > 0.8:
        constellation.scale_up("web", instances=2)
        print("Proactively scaled up based on prediction")
    else:
        print("No scale-up needed")
    running = [r for r in constellation.list_instances() if r["owner"] == "web"]
    print(f"web instances: {len(running)}")
    predictive.destroy(predictor)
    constellation.undeploy("web")


if __name__ == "__main__":
    if "CONSTELLATION_HOME" not in os.environ:
        os.environ["CONSTELLATION_HOME"] = tempfile.mkdtemp(prefix="constellation-example-")
    main()
