"""Step load from 1 to 16 concurrent clients: how fast do instances reach the target?

Run: ``.venv/bin/python benchmarks/autoscale_bench.py``. A function whose handler sleeps
50 ms (so 16 clients keep about 16 invocations in flight), ``target_concurrency`` 100,
up to 32 instances. One client runs for 5 s, then 16 run. Reported: the time from the
step until 16 instances exist (the pool starts one whenever an invocation finds none
idle), and until the autoscaler's decision reaches 16 (its 2 s tick and 6 s panic
window). Seed: scale-up < 5 s; issue: instances at target within 2 s.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from _util import report

from constellation.platform import Constellation

HANDLER = "import time\n\ndef handle(event, context):\n    time.sleep(0.05)\n"


def main() -> None:
    code = Path(tempfile.mkdtemp()) / "slow.py"
    code.write_text(HANDLER)
    with Constellation(tempfile.mkdtemp()) as p:
        s = p.serverless
        s.init()
        f = s.create_function(
            "stepped",
            "python",
            "handle",
            str(code),
            concurrency=32,
            scaling_policy={"target_concurrency": 100, "max_instances": 32},
        )
        s.deploy_function(f.id)
        stop = threading.Event()
        clients: list[threading.Thread] = []

        def client() -> None:
            while not stop.is_set():
                s.invoke_sync(f.id, None)

        def add_clients(n: int) -> None:
            for _ in range(n):
                t = threading.Thread(target=client)
                t.start()
                clients.append(t)

        add_clients(1)
        time.sleep(5.0)
        step = time.monotonic()
        add_clients(15)
        instances_at = decision_at = None
        while time.monotonic() - step < 20 and (instances_at is None or decision_at is None):
            if instances_at is None and s.get_function_metrics(f.id).instances >= 16:
                instances_at = time.monotonic() - step
            pool = s._pools[f.id]
            if decision_at is None and pool.autoscale_target >= 16:
                decision_at = time.monotonic() - step
            time.sleep(0.01)
        stop.set()
        for t in clients:
            t.join()
        decisions = s.get_scaling_decisions(f.id, 20)
    report(
        "autoscale",
        {
            "instances_reach_16_after_s": instances_at,
            "autoscaler_decides_16_after_s": decision_at,
            "decisions": [
                {k: d[k] for k in ("current", "desired", "panic", "reason")} for d in decisions
            ],
            "targets": {"issue": "instances at target within 2 s", "seed": "scale-up < 5 s"},
        },
    )


if __name__ == "__main__":
    main()
