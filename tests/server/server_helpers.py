"""Helpers shared by the server tests: raw sockets, waiting for a log line, a liveness check."""

from __future__ import annotations

import socket
import time

from blender_addon.ipc import protocol as P


def raw(backend) -> socket.socket:
    sock = socket.create_connection(backend.address, timeout=10)
    return sock


def wait_log(backend, needle, timeout=5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail = backend.log_tail(400)
        if needle in tail:
            return tail
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in the backend log:\n{backend.log_tail(20)}")


def assert_still_serving(backend):
    with backend.connect() as client:
        job = client.submit("count", {"n": 2, "delay": 0})
        assert isinstance(client.wait_for(job, timeout=30), P.Result)
