"""Fuzz: >= 10,000 random and mutated frames against a real backend; it must neither crash nor leak memory.

Each frame goes down an authenticated connection (a few before hello), followed by a ping; the server must answer
the ping, or close that connection after a bad frame. Resident memory (VmRSS from /proc) is compared after a warm-up
and after the run.
"""

from __future__ import annotations

import json
import random
import socket
import struct
from pathlib import Path

import pytest

from blender_addon.ipc import protocol as P

FRAMES = 10_000
VALID = [P.Submit("j1", "no_such_kind", {"a": [1, 2]}), P.Cancel("nope"), P.Status(), P.Ping(5),
         P.Hello(P.PROTOCOL_VERSION, "x"), P.Progress("a", "s", 1, 2, "m"), P.Result("a", {"r": "/x"}),
         P.Error("a", "k", "m", "t"), P.Submit("j2", "count", {"n": "ten"})]
JSON_VALUES = [None, True, 0, -1, 2**70, 1.5, "", "x" * 300, [], {}, [None], {"type": None}]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def random_value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth < 3 and r < 0.2:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3 and r < 0.4:
        return {rng.choice(["a", "n", "model", "\u00e9", ""]): random_value(rng, depth + 1) for _ in range(3)}
    return rng.choice(JSON_VALUES)


def valid_message(rng: random.Random) -> P.Message:
    """A well-formed message the server must answer without closing."""
    job_id = "".join(rng.choice("abc123_.-") for _ in range(rng.randint(1, 64)))
    return rng.choice([
        P.Submit(job_id, rng.choice(["no_such_kind", "exec", "Count", ""]), {"p": random_value(rng)}),
        P.Cancel(job_id), P.Status(), P.Ping(rng.randint(0, 2**40)),
    ])


def mutated_payload(rng: random.Random) -> bytes:
    """A JSON payload: a valid message, random bytes, a bit-flipped one, or one with fields changed."""
    if rng.random() < 0.3:
        return P.encode(valid_message(rng))[4:]
    base = P.encode(rng.choice(VALID))[4:]
    r = rng.random()
    if r < 0.2:
        return rng.randbytes(rng.randint(0, 64))
    if r < 0.5:
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if r < 0.6:
        return base[: rng.randrange(len(base))]
    obj = json.loads(base)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        key = rng.choice(list(obj) + ["extra", "type"])
        if op < 0.4:
            obj[key] = rng.choice(JSON_VALUES)
        elif op < 0.7 and key in obj:
            del obj[key]
        else:
            obj["type"] = rng.choice(list(P.MESSAGE_TYPES) + ["exec", "eval", ""])
    if obj.get("type") == "shutdown":
        obj["type"] = "status"  # the one valid message that would end the run
    if obj.get("type") == "submit" and obj.get("kind") in ("count", "fail", "build_body", "free_memory"):
        obj["kind"] = "no_such_kind"  # keep the worker idle
    return json.dumps(obj).encode()


def mutated_frame(rng: random.Random) -> tuple[bytes, bool]:
    """(frame bytes, complete?): mostly well-framed payloads, sometimes lying or oversized headers."""
    payload = mutated_payload(rng)
    r = rng.random()
    if r < 0.9:
        return struct.pack(">I", len(payload)) + payload, True
    if r < 0.95:
        return struct.pack(">I", rng.choice([P.MAX_FRAME + 1, 2**32 - 1])) + payload, False
    return struct.pack(">I", len(payload) + rng.randint(1, 50)) + payload, False


class Fuzzer:
    def __init__(self, backend, rng: random.Random) -> None:
        self.backend, self.rng = backend, rng
        self.sock: socket.socket | None = None
        self.closed_by_server = 0
        self.answered = 0

    def connect(self, authenticate: bool) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.create_connection(self.backend.address, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if authenticate:
            P.send_message(self.sock, P.Hello(P.PROTOCOL_VERSION, self.backend.token))
            assert isinstance(P.read_message(self.sock), P.Welcome)

    def send(self, seq: int) -> None:
        if self.sock is None or self.rng.random() < 0.03:
            self.connect(authenticate=self.rng.random() < 0.8)
        data, complete = mutated_frame(self.rng)
        if not complete:  # the server waits for bytes that never come, or refuses the header: hang up
            try:
                self.sock.sendall(data)
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server already refused the header and closed
            self._drain_until_closed()
            return
        try:
            self.sock.sendall(data + P.encode(P.Ping(seq)))
        except OSError:  # closed by the server while we were still writing
            self.closed_by_server += 1
            self.sock.close()
            self.sock = None
            return
        while True:
            try:
                msg = P.read_message(self.sock)
            except (P.ConnectionClosed, ConnectionResetError):
                self.closed_by_server += 1
                self.sock.close()
                self.sock = None
                return
            if isinstance(msg, P.Pong) and msg.seq == seq:
                self.answered += 1
                return

    def _drain_until_closed(self) -> None:
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.closed_by_server += 1
        self.sock.close()
        self.sock = None


@pytest.mark.slow
def test_server_fuzz_10000_frames_no_crash_no_leak(backend_factory):
    backend = backend_factory()
    pid = backend.proc.pid
    rng = random.Random(20261124)
    fuzzer = Fuzzer(backend, rng)
    for i in range(500):  # warm-up: imports, thread stacks, allocator pools
        fuzzer.send(i)
    rss_before = rss_kib(pid)
    for i in range(FRAMES):
        fuzzer.send(i)
        assert backend.running, f"backend died at frame {i}:\n{backend.log_tail()}"
    if fuzzer.sock is not None:
        fuzzer.sock.close()
    rss_after = rss_kib(pid)
    print(f"\nfuzz: {FRAMES} frames, {fuzzer.answered} answered, {fuzzer.closed_by_server} connections closed "
          f"by the server; VmRSS before {rss_before} KiB, after {rss_after} KiB ({rss_after - rss_before:+d} KiB)")
    assert fuzzer.answered > 2000 and fuzzer.closed_by_server > 2000
    assert rss_after - rss_before < 20 * 1024, (rss_before, rss_after)
    with backend.connect() as client:  # still fully functional
        job = client.submit("count", {"n": 3, "delay": 0})
        assert isinstance(client.wait_for(job, timeout=30), P.Result)
        client.status()
    log = backend.log_path.read_text(errors="replace")
    assert "unexpected error" not in log and "internal error" not in log  # no handler crashed
