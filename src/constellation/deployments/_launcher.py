"""The program each instance runs: ``python _launcher.py SCRIPT ARGS...``.

It is run by path, never imported by the platform at run time, and imports nothing that
Python's start-up has not already imported, so an instance starts as fast as
``python SCRIPT``. It does two things:

1. If ``CONSTELLATION_LIFELINE_FD`` names an inherited pipe, a thread waits for its end
   of file (the platform's process is gone, however it ended), then sends this process
   SIGTERM and, ``CONSTELLATION_LIFELINE_GRACE`` seconds later, exits hard.
2. It runs SCRIPT in ``__main__``'s namespace with ``sys.argv == [SCRIPT, *ARGS]`` and
   ``sys.path[0]`` the script's folder, as ``python SCRIPT ARGS...`` would; an uncaught
   exception prints the traceback from the script's own frames on and exits with 1.
"""

from __future__ import annotations

import _thread
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing would slow every start down
if TYPE_CHECKING:
    from typing import Any

LIFELINE_FD = "CONSTELLATION_LIFELINE_FD"
LIFELINE_GRACE = "CONSTELLATION_LIFELINE_GRACE"


def _lifeline(fd: int, grace: float, os: Any = os) -> None:  # bound now: globals go soon
    try:
        while os.read(fd, 64):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), 15)  # SIGTERM: the script's handlers run, or it ends
    import time

    time.sleep(grace)
    os._exit(137)


def _run(script: str, main: dict[str, Any], sys: Any = sys) -> None:
    with open(script, "rb") as fh:
        code = compile(fh.read(), script, "exec", dont_inherit=True)  # not our __future__
    builtins = main["__builtins__"]
    main.clear()  # the script gets a fresh __main__, as under `python script.py`
    main.update(
        __name__="__main__",
        __file__=script,
        __builtins__=builtins,
        __doc__=None,
        __loader__=None,
        __spec__=None,
        __package__=None,
        __cached__=None,
    )
    try:
        exec(code, main)
    except Exception as exc:
        import traceback

        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next  # skip this launcher's own frames
        traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
        sys.exit(1)


if __name__ == "__main__":
    _fd = os.environ.pop(LIFELINE_FD, None)
    _grace = float(os.environ.pop(LIFELINE_GRACE, "5"))
    if _fd is not None:
        os.set_inheritable(int(_fd), False)  # the script's own children do not hold it
        _thread.start_new_thread(_lifeline, (int(_fd), _grace))
    del sys.argv[0]
    sys.path[0] = os.path.dirname(sys.argv[0])
    _run(sys.argv[0], globals())
