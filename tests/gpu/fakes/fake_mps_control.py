#!/usr/bin/env python3
"""A stand-in for nvidia-cuda-mps-control, enough for the MpsDaemon wrapper's tests.

``-f`` (foreground daemon): writes its pid and the ``control`` pipe file into
$CUDA_MPS_PIPE_DIRECTORY and runs until a client asks it to quit. With no argument (the
control client): reads commands on stdin; ``quit`` leaves a marker the daemon obeys.
$FAKE_MPS_MODE=die-at-start makes the daemon exit at once with code 3.
"""

import os
import sys
import time
from pathlib import Path

pipe = Path(os.environ["CUDA_MPS_PIPE_DIRECTORY"])
if sys.argv[1:] == ["-f"]:
    if os.environ.get("FAKE_MPS_MODE") == "die-at-start":
        sys.exit(3)
    (pipe / "daemon.pid").write_text(str(os.getpid()))
    (pipe / "control").write_text("")
    while not (pipe / "quit").exists():
        time.sleep(0.01)
    (pipe / "quit").unlink()
    (pipe / "control").unlink()
    sys.exit(0)
for line in sys.stdin:
    if line.strip() == "quit":
        (pipe / "quit").write_text("")
