"""A failed handler's traceback points at the user's own file and line."""

from __future__ import annotations

import json
from pathlib import Path

from constellation.cli._traceback import user_traceback

from .conftest import HANDLERS, cli

STORED = (
    "Traceback (most recent call last):\n"
    '  File "/srv/site-packages/constellation/_runtime/worker.py", line 201, in _serve\n'
    '    output = handler(request["event"], context)\n'
    "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    '  File "/home/u/.constellation/code/{h}/shop/orders.py", line 12, in handle\n'
    "    return total(event)\n"
    '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
    "    return _default_decoder.decode(s)\n"
    "ValueError: bad order\n"
).format(h="ab" * 32)


def test_the_stored_copy_becomes_the_source_and_the_worker_frames_go() -> None:
    out = user_traceback(STORED, {"source": "/work/app"}).splitlines()
    assert out == [
        "Traceback (most recent call last):",
        '  File "/work/app/shop/orders.py", line 12, in handle',
        "    return total(event)",
        '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads',
        "    return _default_decoder.decode(s)",
        "ValueError: bad order",
    ]


def test_a_single_file_source_and_an_upload() -> None:
    flat = STORED.replace("/shop/orders.py", "/orders.py")  # a one-file function's copy
    one_file = user_traceback(flat, {"source": "/work/app/shop/orders.py"})
    assert '  File "/work/app/shop/orders.py", line 12, in handle' in one_file.splitlines()
    upload = user_traceback(STORED, {"source": "/srv/home/uploads/shop/" + "cd" * 32})
    assert '  File "shop/orders.py", line 12, in handle' in upload.splitlines()


def test_invoke_prints_the_local_traceback_at_the_users_file(tmp_home: Path) -> None:
    assert cli("functions", "create", "bad", "--code", HANDLERS, "--handler", "fail").exit_code == 0
    done = cli("functions", "invoke", "bad", "--data", '"x"')
    assert done.exit_code == 1
    assert json.loads(done.stdout)["error"] == "ValueError: bad order x"
    line = next(n for n, text in enumerate(Path(HANDLERS).read_text().splitlines(), 1)
                if 'raise ValueError("bad order "' in text)  # fmt: skip
    assert f'  File "{HANDLERS}", line {line}, in fail' in done.stderr.splitlines()
    assert "/code/" not in done.stderr and "_runtime" not in done.stderr
