"""The worker channel's QUIET bit: callers past the cores to spare sleep, and say so."""

from __future__ import annotations

import gc
import socket
import subprocess
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from constellation._runtime.protocol import Receiver, send_raw
from constellation.backends.local import ExitRegistry, SpinGate, WorkerInstance, _instance


class _RecordingSocket:
    """A socket that records the flags of each ``recv_into``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.flags: list[int] = []

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.flags.append(flags)
        return self.sock.recv_into(buffer, nbytes, flags)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_a_quiet_message_makes_the_next_read_sleep_instead_of_polling(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiving = pair
    sock = _RecordingSocket(receiving)
    receiver = Receiver(sock, spin_s=5.0)  # type: ignore[arg-type]
    # One message at a time, as on the channel (a request, then its reply).
    send_raw(sender, b'{"n": 1}', quiet=True)
    assert receiver.recv() == {"n": 1}  # polled for: nothing said otherwise yet
    assert receiver.quiet
    assert sock.flags[-1] == socket.MSG_DONTWAIT
    send_raw(sender, b'{"n": 2}')
    assert receiver.recv() == {"n": 2}  # after the quiet one: a plain, sleeping read
    assert not receiver.quiet
    assert sock.flags[-1] == 0
    send_raw(sender, b'{"n": 3}')
    assert receiver.recv() == {"n": 3}
    assert sock.flags[-1] == socket.MSG_DONTWAIT
    send_raw(sender, b'{"n": 4}')
    assert receiver.recv(spin=False) == {"n": 4}  # the caller may also say no
    assert sock.flags[-1] == 0


def test_the_quiet_bit_is_not_part_of_the_length(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiving = pair
    body = orjson.dumps({"big": "x" * 40_000})  # longer than the receive buffer
    send_raw(sender, body, quiet=True)
    assert Receiver(receiving, size=4096).recv() == {"big": "x" * 40_000}


def test_the_spin_gate_lets_as_many_calls_poll_as_there_are_slots() -> None:
    gate = SpinGate(2)
    assert [gate.enter(), gate.enter(), gate.enter()] == [True, True, False]
    gate.leave()
    assert gate.in_flight == 2
    assert gate.enter() is False  # still two others in flight
    gate.leave()
    gate.leave()
    assert gate.enter() is True


@pytest.mark.parametrize(("slots", "quiet"), [(1, False), (0, True)])
def test_an_instance_tells_its_worker_to_sleep_when_no_core_is_spare(
    pair: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
    slots: int,
    quiet: bool,
) -> None:
    monkeypatch.setattr(_instance, "SPIN_GATE", SpinGate(slots))
    ours, worker_end = pair
    told_quiet: list[bool] = []

    def worker() -> None:  # one request, one reply
        receiver = Receiver(worker_end)
        request = receiver.recv()
        told_quiet.append(receiver.quiet)
        send_raw(worker_end, orjson.dumps({"ok": True, "out": request["n"]}))

    thread = threading.Thread(target=worker)
    thread.start()
    instance = WorkerInstance("fi-test", "fn", 0, 0, ours, ExitRegistry(), 0.0)
    assert instance.invoke_raw(orjson.dumps({"n": 7}), 5.0) == {"ok": True, "out": 7}
    thread.join(5)
    assert told_quiet == [quiet]
    assert _instance.SPIN_GATE.in_flight == 0


def test_a_fork_request_to_a_closed_zygote_leaves_no_socket_open() -> None:
    from constellation.backends.local._zygote_client import RootZygote
    from constellation.errors import ClosedError

    zygote = RootZygote(ExitRegistry())
    zygote.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ClosedError):
            zygote.fork_worker({})
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.fixture
def stand_in() -> Iterator[subprocess.Popen[bytes]]:
    """A process in the worker's place that never writes (an instance's kill ends it)."""
    process = subprocess.Popen(["sleep", "30"])
    yield process
    process.kill()
    process.wait()


def test_a_worker_that_never_says_ready_is_killed_after_the_start_timeout(
    pair: tuple[socket.socket, socket.socket], stand_in: subprocess.Popen[bytes]
) -> None:
    ours, _silent = pair
    instance = WorkerInstance("fi-test", "fn", 0, stand_in.pid, ours, ExitRegistry(), 0.0)
    ready = instance.wait_ready(0.2)
    assert ready == {"ready": False, "error": "the instance did not start within 0 s"}
    assert stand_in.wait(5) == -9  # SIGKILL
    assert instance.closed


def test_after_the_ready_message_a_call_has_its_own_time_limit(
    pair: tuple[socket.socket, socket.socket], stand_in: subprocess.Popen[bytes]
) -> None:
    ours, worker_end = pair
    send_raw(worker_end, orjson.dumps({"ready": True, "init_ms": 1.5}))
    instance = WorkerInstance("fi-test", "fn", 0, stand_in.pid, ours, ExitRegistry(), 0.0)
    assert instance.wait_ready(30.0) == {"ready": True, "init_ms": 1.5}
    with pytest.raises(_instance.InstanceTimedOut):
        instance.invoke_raw(orjson.dumps({"n": 1}), 0.2)  # not the 30 s of the start
    assert stand_in.wait(5) == -9


def test_a_default_socket_timeout_does_not_change_how_a_call_times_out(
    stand_in: subprocess.Popen[bytes],
) -> None:
    socket.setdefaulttimeout(0.05)  # shorter than the call's limit: it must not apply
    try:
        ours, worker_end = socket.socketpair()
    finally:
        socket.setdefaulttimeout(None)
    with ours, worker_end:
        send_raw(worker_end, orjson.dumps({"ready": True}))
        instance = WorkerInstance("fi-test", "fn", 0, stand_in.pid, ours, ExitRegistry(), 0.0)
        assert instance.wait_ready(30.0) == {"ready": True}

        def reply_late() -> None:
            Receiver(worker_end).recv()
            threading.Event().wait(0.3)
            send_raw(worker_end, orjson.dumps({"ok": True, "out": 1}))

        thread = threading.Thread(target=reply_late)
        thread.start()
        assert instance.invoke_raw(orjson.dumps({"n": 1}), 5.0) == {"ok": True, "out": 1}
        thread.join(5)
