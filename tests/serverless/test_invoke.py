"""Invoking functions: results, isolation, limits, and captured output."""

from __future__ import annotations

import os

import pytest

from constellation.errors import ValidationError
from constellation.serverless import ServerlessService

from .conftest import HANDLERS


def test_invoke_sync_returns_output_and_measurements(sls: ServerlessService) -> None:
    f = sls.create_function("echo", "python", "echo", HANDLERS, memory_mb=256)
    first = sls.invoke_sync(f.id, {"order_id": 12345, "amount": 99.99}, timeout=5000)
    assert first.status == "success" and first.ok and first.error is None
    assert first.output["event"] == {"order_id": 12345, "amount": 99.99}
    assert first.output["request_id"] == first.request_id
    assert first.output["function"] == "echo" and first.output["memory"] == 256
    assert 0 < first.output["remaining_ms"] <= 5000
    assert first.cold_start and first.init_duration_ms > 0
    assert first.memory_used_mb > 1 and first.duration_ms >= 0
    second = sls.invoke_sync(f.id, {"n": 2})
    assert not second.cold_start and second.init_duration_ms == 0
    assert second.instance_id == first.instance_id


def test_handler_runs_in_a_worker_process_not_the_platform(sls: ServerlessService) -> None:
    f = sls.create_function("where", "python", "count", HANDLERS)
    result = sls.invoke_sync(f.id)
    assert result.output["pid"] != os.getpid()
    assert "handlers" not in {
        m.split(".")[-1] for m in __import__("sys").modules if m == "handlers"
    }


def test_handler_exception_is_an_error_result(sls: ServerlessService) -> None:
    f = sls.create_function("fails", "python", "fail", HANDLERS)
    result = sls.invoke_sync(f.id, 7)
    assert result.status == "error" and result.error_type == "ValueError"
    assert result.error == "ValueError: bad order 7"
    assert "raise ValueError" in result.traceback
    assert sls.invoke_sync(f.id, 8).instance_id == result.instance_id  # the instance lives on


def test_timeout_kills_the_worker_and_replaces_the_instance(sls: ServerlessService) -> None:
    f = sls.create_function("slow", "python", "sleep", HANDLERS, timeout_s=1)
    result = sls.invoke_sync(f.id, {"seconds": 30})
    assert result.status == "timeout"
    assert result.error == "timed out after 1000 ms"
    assert result.billed_duration_ms >= 1000
    again = sls.invoke_sync(f.id, {"seconds": 0})
    assert again.ok and again.cold_start and again.instance_id != result.instance_id
    short = sls.invoke_sync(f.id, {"seconds": 5}, timeout=200)
    assert short.status == "timeout" and short.error == "timed out after 200 ms"


def test_memory_limit_ends_the_call_and_replaces_the_instance(sls: ServerlessService) -> None:
    f = sls.create_function("hungry", "python", "allocate", HANDLERS, memory_mb=128)
    ok = sls.invoke_sync(f.id, {"mb": 40})
    assert ok.ok and ok.memory_used_mb >= 40
    over = sls.invoke_sync(f.id, {"mb": 400})
    assert over.status == "memory_limit"
    assert over.error == "memory limit of 128 MB exceeded"
    after = sls.invoke_sync(f.id, {"mb": 1})
    assert after.ok and after.cold_start and after.instance_id != over.instance_id


def test_memory_used_is_the_peak_of_this_call(sls: ServerlessService) -> None:
    f = sls.create_function("peaks", "python", "allocate", HANDLERS, memory_mb=512)
    big = sls.invoke_sync(f.id, {"mb": 100})
    small = sls.invoke_sync(f.id, {"mb": 1})
    assert big.memory_used_mb >= 100
    assert small.memory_used_mb < big.memory_used_mb - 50


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        ("segfault", "killed by signal SIGSEGV (segmentation fault)"),
        ("hard_exit", "exited with code 7"),
    ],
)
def test_crashing_handler_gives_a_clear_error_and_others_keep_working(
    sls: ServerlessService, handler: str, words: str
) -> None:
    bad = sls.create_function("crasher", "python", handler, HANDLERS)
    good = sls.create_function("healthy", "python", "echo", HANDLERS)
    assert sls.invoke_sync(good.id, 1).ok
    result = sls.invoke_sync(bad.id)
    assert result.status == "crashed"
    assert words in str(result.error)
    assert sls.invoke_sync(good.id, 2).ok
    assert sls.invoke_sync(bad.id).status == "crashed"  # a new instance, same fate


def test_sys_exit_is_an_error_not_a_crash(sls: ServerlessService) -> None:
    f = sls.create_function("exits", "python", "sys_exit", HANDLERS)
    result = sls.invoke_sync(f.id)
    assert result.status == "error" and result.error == "handler called sys.exit(3)"


def test_output_that_is_not_json_is_an_error(sls: ServerlessService) -> None:
    f = sls.create_function("setty", "python", "not_json", HANDLERS)
    result = sls.invoke_sync(f.id)
    assert result.status == "error" and result.error_type == "OutputNotSerializable"
    assert "not JSON-serialisable" in str(result.error)


def test_input_that_is_not_json_is_refused(sls: ServerlessService) -> None:
    f = sls.create_function("strict", "python", "echo", HANDLERS)
    with pytest.raises(ValidationError, match="input"):
        sls.invoke_sync(f.id, {"x": object()})
    with pytest.raises(ValidationError, match="timeout"):
        sls.invoke_sync(f.id, 1, timeout=-5)
    assert sls.get_function_metrics(f.id).total_invocations == 0


def test_printed_output_is_captured_per_invocation_and_bounded(sls: ServerlessService) -> None:
    f = sls.create_function("chatty", "python", "chatty", HANDLERS)
    result = sls.invoke_sync(f.id, {"spam": 0})
    assert result.logs == "processing {'spam': 0}\nwarning!\n"
    flood = sls.invoke_sync(f.id, {"spam": 100_000})
    assert len(flood.logs) < sls.settings.log_capture_bytes + 100
    assert "more characters dropped" in flood.logs
    logs = sls.get_logs(f.id)
    assert [entry["request_id"] for entry in logs] == [result.request_id, flood.request_id]
    assert logs[0]["logs"] == result.logs
