"""The worker runtime: what runs inside an instance process, after the zygote forks it.

Imported by the zygote before any fork, so a new instance starts with it in memory.
A worker loads the function's module (unless its zygote already did), reports
``ready``, then answers one invocation at a time on its socket until the platform
closes the socket or kills it. The platform never imports user code itself.
"""

from __future__ import annotations

import importlib
import os
import resource
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import orjson

from ._prctl import PR_SET_PDEATHSIG, prctl
from .protocol import ChannelClosed, Receiver, send_message, send_raw

__all__ = ["Context", "load_handler", "run_worker"]

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


# Lambda's context names with local values: region "local", account 000000000000.
REGION = "local"
ACCOUNT_ID = "000000000000"


class Context:
    """The second argument of every handler (Lambda-style names).

    ``invoked_function_arn``, ``log_group_name`` and ``log_stream_name`` follow Lambda's
    formats with local values; ``trace_parent`` is the W3C ``traceparent`` the call came
    with (an HTTP request's header, a CloudEvent's extension), else ``None``."""

    __slots__ = (
        "_deadline",
        "_spec",
        "attempt",
        "function_name",
        "function_version",
        "instance_id",
        "memory_limit_in_mb",
        "request_id",
        "trace_parent",
    )
    identity = None  # Lambda's Cognito identity and mobile client context: never set here
    client_context = None

    def __init__(
        self,
        spec: dict[str, Any],
        request_id: str,
        timeout_ms: float,
        attempt: int,
        trace_parent: str | None = None,
    ):
        self.request_id = request_id
        self.function_name: str = spec["function"]
        self.function_version: int = spec["version"]
        self.memory_limit_in_mb: int = spec["memory_mb"]
        self.instance_id: str = spec["instance_id"]
        self.attempt = attempt
        self.trace_parent = trace_parent
        self._spec = spec
        self._deadline = time.monotonic() + timeout_ms / 1000.0

    @property
    def aws_request_id(self) -> str:
        return self.request_id

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        """Lambda's ``YYYY/MM/DD/[version]<instance>``, dated when the instance started."""
        day = time.strftime("%Y/%m/%d", time.gmtime(self._spec.get("started_at")))
        return f"{day}/[{self.function_version}]{self.instance_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Capture:
    """A bounded text sink that stands in for stdout/stderr during one invocation."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def reset(self) -> None:
        self.parts.clear()
        self.size = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        room = self.limit - self.size
        if room <= 0:
            self.dropped += len(text)
        elif len(text) <= room:
            self.parts.append(text)
            self.size += len(text)
        else:
            self.parts.append(text[:room])
            self.size = self.limit
            self.dropped += len(text) - room
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n[... {self.dropped} more characters dropped]"
        return out


def prepare_process(spec: dict[str, Any]) -> None:
    """Environment, working directory and import path for the function's code."""
    os.environ.update(spec["env"])
    root = spec["code_root"]
    os.chdir(root)
    if root not in sys.path:
        sys.path.insert(0, root)


def load_handler(spec: dict[str, Any]) -> Callable[..., Any]:
    """Import the module and return the handler; ValueError says what is wrong."""
    try:
        module = importlib.import_module(spec["module"])
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(exc)).strip()
        raise ValueError(f"code: importing module {spec['module']!r} failed: {detail}") from None
    handler = getattr(module, spec["attr"], None)
    if handler is None:
        raise ValueError(f"handler: module {spec['module']!r} has no attribute {spec['attr']!r}")
    if not callable(handler):
        kind = type(handler).__name__
        raise ValueError(f"handler: {spec['module']}.{spec['attr']} is a {kind}, not callable")
    return handler


def _die_with_parent() -> None:
    """Be killed when the zygote ends (on a Ray node it ends with its actor), even in the
    middle of a handler that never returns."""
    import signal

    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent is already gone
        os._exit(0)


def _limit_memory(memory_mb: int, kind: str) -> None:
    """Allow the handler ``memory_mb`` beyond what the instance holds when ready.

    ``address_space`` (RLIMIT_AS) bounds every mapping. A GPU instance gets ``data``
    (RLIMIT_DATA: private writable memory, the heap and anonymous mmaps) instead, since
    CUDA reserves far more address space than memory when it starts, and a CUDA start
    under RLIMIT_AS fails."""
    if kind == "data":
        with open("/proc/self/status", "rb") as status:
            line = next(row for row in status if row.startswith(b"VmData:"))
        limit = int(line.split()[1]) * 1024 + memory_mb * MB
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        return
    with open("/proc/self/statm", "rb") as statm:
        virtual = int(statm.read().split()[0]) * _PAGE
    limit = virtual + memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_worker(sock_fd: int, spec: dict[str, Any]) -> NoReturn:
    """Serve invocations on ``sock_fd`` until the platform goes away. Never returns."""
    sock = socket.socket(fileno=sock_fd)
    started = time.perf_counter()
    spec["started_at"] = time.time()  # formatted only when a handler asks (strftime is slow)
    if spec.get("die_with_parent"):
        _die_with_parent()
    try:
        prepare_process(spec)
        handler = load_handler(spec)
    except ValueError as exc:
        send_message(sock, {"ready": False, "error": str(exc)})
        os._exit(0)
    if spec.get("check_only"):
        send_message(sock, {"ready": True, "init_ms": 0.0, "pid": os.getpid()})
        os._exit(0)
    _limit_memory(spec["memory_mb"], spec.get("memory_limit", "address_space"))
    init_ms = (time.perf_counter() - started) * 1000.0
    send_message(sock, {"ready": True, "init_ms": init_ms, "pid": os.getpid()})
    _serve(sock, spec, handler)


def _serve(sock: socket.socket, spec: dict[str, Any], handler: Callable[..., Any]) -> NoReturn:
    clear_refs = os.open("/proc/self/clear_refs", os.O_WRONLY)
    capture = _Capture(spec["log_bytes"])
    perf = time.perf_counter
    getrusage = resource.getrusage
    self_usage = resource.RUSAGE_SELF
    receiver = Receiver(sock, spin_s=float(spec.get("spin_s", 0.0)))
    while True:
        try:
            request = receiver.recv()
        except (ChannelClosed, OSError):
            os._exit(0)
        context = Context(
            spec, request["id"], request["timeout_ms"], request.get("attempt", 1), request.get("tp")
        )
        os.write(clear_refs, b"5")  # reset the peak-RSS mark: memory_used_mb is this call's peak
        capture.reset()
        sys.stdout = sys.stderr = capture
        fatal = False
        start = perf()
        try:
            output = handler(request["event"], context)
            reply: dict[str, Any] = {"ok": True, "out": output}
        except MemoryError:
            fatal = True
            limit = spec["memory_mb"]
            reply = {
                "ok": False,
                "kind": "memory_limit",
                "error": f"memory limit of {limit} MB exceeded",
            }
        except BaseException as exc:  # the handler's failure is the caller's result, not ours
            reply = _error_reply(exc)
        duration = (perf() - start) * 1000.0
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        reply["dur"] = duration
        reply["rss"] = getrusage(self_usage).ru_maxrss / 1024.0
        reply["logs"] = capture.text() if capture.size or capture.dropped else ""
        try:
            body = orjson.dumps(reply, option=_JSON_OPTIONS)
        except (TypeError, orjson.JSONEncodeError) as exc:
            reply["out"] = None
            reply.update(ok=False, kind="output", error=f"output is not JSON-serialisable: {exc}")
            body = orjson.dumps(reply, option=_JSON_OPTIONS, default=repr)
        except MemoryError:
            fatal = True
            body = orjson.dumps(
                {
                    "ok": False,
                    "kind": "memory_limit",
                    "dur": duration,
                    "error": f"memory limit of {spec['memory_mb']} MB exceeded",
                }
            )
        try:
            send_raw(sock, body)
        except OSError:
            os._exit(0)
        if fatal:
            os._exit(0)


def _error_reply(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, SystemExit):
        return {
            "ok": False,
            "kind": "error",
            "type": "SystemExit",
            "error": f"handler called sys.exit({exc.code!r})",
            "trace": "",
        }
    trace = "".join(traceback.format_exception(exc.__class__, exc, exc.__traceback__, limit=-8))
    return {
        "ok": False,
        "kind": "error",
        "type": type(exc).__name__,
        "error": f"{type(exc).__name__}: {exc}",
        "trace": trace[-8000:],
    }
