"""Unit tests of the wire protocol: framing, every message round-trips, malformed input raises ProtocolError."""

from __future__ import annotations

import json
import socket
import struct

import pytest

from blender_addon.ipc import protocol as P

SAMPLES = [
    P.Hello(P.PROTOCOL_VERSION, "t0k3n"),
    P.Welcome(P.PROTOCOL_VERSION, 1234, "cpu"),
    P.Submit("job-1", "build_body", {"model": "anny", "betas": [0.1, -0.2], "nested": {"a": [1, None]}}),
    P.Progress("job-1", "load_model", 1, 4, "loading"),
    P.Result("job-1", {"rig": "/tmp/x/rig.npz"}),
    P.Error("job-1", P.ERR_FAILED, "no model files", "Traceback ..."),
    P.Cancel("job-1"),
    P.Status(),
    P.StatusReply([{"job_id": "job-1", "state": "running"}]),
    P.Ping(7),
    P.Pong(7),
    P.Shutdown(),
]


def frame(obj) -> bytes:
    payload = json.dumps(obj).encode()
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_protocol_roundtrip_every_message(msg):
    data = P.encode(msg)
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert json.loads(data[4:])["type"] == msg.TYPE
    assert P.decode_payload(data[4:]) == msg


def test_protocol_message_types_are_frozen_and_complete():
    assert set(P.MESSAGE_TYPES) == {m.TYPE for m in SAMPLES}
    with pytest.raises(Exception):
        SAMPLES[0].token = "other"  # frozen dataclass


def test_protocol_decoder_handles_split_and_joined_frames():
    stream = b"".join(P.encode(m) for m in SAMPLES)
    decoder = P.FrameDecoder()
    got = []
    for i in range(0, len(stream), 7):  # 7-byte chunks split headers and payloads
        got += decoder.feed(stream[i:i + 7])
    assert got == SAMPLES and decoder.pending == 0
    partial = P.FrameDecoder()
    assert partial.feed(P.encode(SAMPLES[3])[:-1]) == [] and partial.pending > 0


@pytest.mark.parametrize("obj, needle", [
    ({"type": "exec", "code": "print(1)"}, "unknown message type"),
    ({"job_id": "a"}, "unknown message type"),
    ([1, 2], "JSON object"),
    ({"type": "cancel"}, "missing"),
    ({"type": "cancel", "job_id": "a", "force": True}, "unknown field"),
    ({"type": "ping", "seq": "1"}, "expected int"),
    ({"type": "ping", "seq": True}, "expected int"),
    ({"type": "ping", "seq": 1.5}, "expected int"),
    ({"type": "submit", "job_id": "a", "kind": "k", "params": []}, "expected dict"),
    ({"type": "submit", "job_id": "../etc", "kind": "k", "params": {}}, "job_id"),
    ({"type": "submit", "job_id": "", "kind": "k", "params": {}}, "job_id"),
    ({"type": "progress", "job_id": "a", "stage": "s", "done": -1, "total": 0, "message": ""}, ">= 0"),
    ({"type": "result", "job_id": "a", "files": {"rig": 3}}, "path strings"),
    ({"type": "status_reply", "jobs": [1]}, "list of objects"),
])
def test_protocol_rejects_malformed_messages(obj, needle):
    with pytest.raises(P.ProtocolError, match=needle):
        P.decode_payload(json.dumps(obj).encode())


@pytest.mark.parametrize("payload, needle", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"type": "ping", "seq": NaN}', "not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_protocol_rejects_bad_payloads(payload, needle):
    with pytest.raises(P.ProtocolError, match=needle):
        P.decode_payload(payload)


def test_protocol_frame_size_limit_both_ways():
    big = P.Submit("a", "k", {"blob": "x" * P.MAX_FRAME})
    with pytest.raises(P.ProtocolError, match="frame limit"):
        P.encode(big)
    with pytest.raises(P.ProtocolError, match="limit"):
        P.FrameDecoder().feed(struct.pack(">I", P.MAX_FRAME + 1))
    with pytest.raises(P.ProtocolError, match="not JSON-serialisable"):
        P.encode(P.Submit("a", "k", {"x": float("nan")}))


def test_protocol_socket_helpers_detect_truncation():
    a, b = socket.socketpair()
    with a, b:
        P.send_message(a, P.Ping(3))
        a.sendall(P.encode(P.Pong(4))[:6])
        a.shutdown(socket.SHUT_WR)
        assert P.read_message(b) == P.Ping(3)
        with pytest.raises(P.ConnectionClosed) as info:
            P.read_message(b)
        assert info.value.truncated
    c, d = socket.socketpair()
    with c, d:
        c.close()
        with pytest.raises(P.ConnectionClosed) as info:
            P.read_message(d)
        assert not info.value.truncated
