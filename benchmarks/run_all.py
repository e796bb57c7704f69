"""Run every benchmark script behind BENCHMARKS.md, one after another.

``make bench`` calls this. Each script prints its figures as JSON and writes them to
``benchmarks/out/<name>.json``; BENCHMARKS.md quotes those files. Pass ``--quick`` for a
short smoke run. Scripts that need hardware this machine lacks (``gpu_check.py``) are
not run here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = sorted(
    p.name for p in HERE.glob("*.py") if p.name.endswith(("_bench.py", "_eval.py", "_speed.py"))
)


def main() -> int:
    failures = 0
    for script in [HERE / name for name in SCRIPTS]:
        print(f"== {script.name}", flush=True)
        code = subprocess.call([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent)
        if code:
            print(f"!! {script.name} exited with {code}", flush=True)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
