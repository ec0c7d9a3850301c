"""Unauthenticated connections cannot hold the server: one deadline for the whole hello, a cap on connections still
in their hello (the oldest is closed), a listen backlog that takes a burst."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from blender_addon.ipc import protocol as P
from server_helpers import assert_still_serving, raw, wait_log


def test_server_trickling_hello_is_closed_at_the_deadline(backend_factory):
    """One byte every 0.8 s never lets a per-read timeout of 2 s fire; the whole-hello deadline does."""
    proc = backend_factory(extra_args=["--hello-timeout", "2"])
    frame = P.encode(P.Hello(P.PROTOCOL_VERSION, "not-the-token"))
    closed_after = None
    with raw(proc) as sock:
        t0 = time.monotonic()
        sock.settimeout(0.8)
        for i in range(12):  # ~10 s of trickling if nobody closes it
            try:
                sock.sendall(frame[i:i + 1])
                data = sock.recv(4096)  # the server's error frame, then EOF
                if data is not None:  # the server's error frame or EOF: it is closing
                    closed_after = time.monotonic() - t0
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - t0
                break
    assert closed_after is not None, "the trickling client was never closed"
    assert closed_after < 3.5, closed_after  # deadline 2 s (+ one trickle period)
    wait_log(proc, "no hello within 2 s")
    assert_still_serving(proc)


def test_server_500_idle_connections_do_not_lock_out_the_client(backend_factory):
    proc = backend_factory()  # default hello timeout (10 s): the idle sockets would all still be waiting
    idle: list[socket.socket] = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection(proc.address, timeout=10))
        t0 = time.monotonic()
        with proc.connect(timeout=5) as client:
            job = client.submit("count", {"n": 3, "delay": 0.0})
            assert isinstance(client.wait_for(job, timeout=30), P.Result)
        assert time.monotonic() - t0 < 5.0
        # the server's own descriptors stay bounded by the cap, not by the 500
        fds = len(list(Path(f"/proc/{proc.proc.pid}/fd").iterdir()))
        assert fds < 200, fds
        wait_log(proc, "connections waiting to authenticate; closing the oldest")
    finally:
        for sock in idle:
            sock.close()
    assert_still_serving(proc)
    assert proc.proc.poll() is None


def test_server_hello_deadline_counts_from_accept(backend_factory):
    """A silent connection is closed after the timeout even if others keep the server busy meanwhile."""
    proc = backend_factory(extra_args=["--hello-timeout", "1"])
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            with proc.connect() as client:
                client.ping()
            time.sleep(0.05)

    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    try:
        with raw(proc) as sock:
            sock.settimeout(5)
            t0 = time.monotonic()
            while sock.recv(4096):
                pass
            assert time.monotonic() - t0 < 3
    finally:
        stop.set()
        t.join(5)
