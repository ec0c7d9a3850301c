"""Hostile or broken peers: each bad connection is closed with a logged reason; the server keeps serving others."""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from blender_addon.ipc import protocol as P
from blender_addon.ipc.client import BackendClient, BackendError
from server_helpers import assert_still_serving, raw, wait_log


def hello(sock, token) -> P.Message:
    P.send_message(sock, P.Hello(P.PROTOCOL_VERSION, token))
    return P.read_message(sock)


def read_until_closed(sock) -> list:
    """Messages the server sent before closing; asserts it did close."""
    out = []
    while True:
        try:
            out.append(P.read_message(sock))
        except P.ConnectionClosed:
            return out


def test_server_wrong_token_is_refused_and_logged(backend):
    with pytest.raises(BackendError, match="wrong token"):
        BackendClient(backend.address, "not-the-token")
    wait_log(backend, "auth: wrong token")
    assert_still_serving(backend)


def test_server_wrong_protocol_version_and_no_hello(backend):
    with raw(backend) as sock:
        P.send_message(sock, P.Hello(P.PROTOCOL_VERSION + 1, backend.token))
        msgs = read_until_closed(sock)
        assert msgs[0].kind == P.ERR_AUTH and "protocol version" in msgs[0].message
    with raw(backend) as sock:
        P.send_message(sock, P.Ping(1))  # must say hello first
        assert read_until_closed(sock)[0].kind == P.ERR_AUTH
    wait_log(backend, "the first message must be hello, got ping")
    assert_still_serving(backend)


@pytest.mark.parametrize("authenticated", [False, True], ids=["before_hello", "after_hello"])
@pytest.mark.parametrize("case, payload, log_needle", [
    ("oversized", struct.pack(">I", P.MAX_FRAME + 1) + b"{", "more than the"),
    ("huge_header", b"\xff\xff\xff\xff", "more than the"),
    ("truncated", struct.pack(">I", 100) + b'{"type": "pi', "truncated a frame"),
    ("invalid_json", struct.pack(">I", 9) + b"{'bad': 1", "not valid JSON"),
    ("not_utf8", struct.pack(">I", 4) + b"\xff\xfe\xfd\xfc", "not UTF-8"),
    ("unknown_type", None, "unknown message type 'run_python'"),
    ("server_only_type", None, "may not send"),
])
def test_server_bad_frames_close_only_that_connection(backend, case, payload, log_needle, authenticated):
    if payload is None:
        obj = {"type": "run_python", "code": "import os"} if case == "unknown_type" else \
            P.to_dict(P.Result("x", {}))
        data = json.dumps(obj).encode()
        payload = struct.pack(">I", len(data)) + data
    if case == "server_only_type" and not authenticated:
        log_needle = "the first message must be hello"
    bystander = backend.connect()  # an authenticated client that must not be disturbed
    try:
        with raw(backend) as sock:
            if authenticated:
                assert isinstance(hello(sock, backend.token), P.Welcome)
            sock.sendall(payload)
            if case == "truncated":
                sock.shutdown(socket.SHUT_WR)
            msgs = read_until_closed(sock)
            if case != "truncated":
                assert msgs and isinstance(msgs[-1], P.Error), msgs
                assert msgs[-1].kind in (P.ERR_PROTOCOL, P.ERR_AUTH)
        wait_log(backend, log_needle)
        seq = bystander.ping()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            msg = bystander.next_message(0.2)
            if isinstance(msg, P.Pong):
                assert msg.seq == seq
                break
        else:
            raise AssertionError("bystander got no pong")
    finally:
        bystander.close()
    assert_still_serving(backend)


def test_server_hello_timeout_closes_silent_connection(backend_factory):
    proc = backend_factory(extra_args=["--hello-timeout", "1"])
    with raw(proc) as sock:
        t0 = time.monotonic()
        msgs = read_until_closed(sock)  # send nothing
        assert time.monotonic() - t0 < 5
        assert msgs[0].kind == P.ERR_AUTH and "no hello" in msgs[0].message
    wait_log(proc, "no hello within 1 s")
    assert_still_serving(proc)
