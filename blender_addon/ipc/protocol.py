"""The add-on <-> backend wire protocol (stdlib only; imported by Blender's Python and by the backend).

Transport: a byte stream (TCP on 127.0.0.1 or a Unix socket). Every frame is a 4-byte big-endian unsigned length
followed by that many bytes of UTF-8 JSON: one object with a ``"type"`` key and exactly the fields of one message
dataclass below. Frames longer than :data:`MAX_FRAME` bytes are refused before their payload is read.

A connection starts with the client's :class:`Hello` (protocol version + the token the add-on put in the backend's
environment); the server answers :class:`Welcome` or closes the connection. Then the client sends
:class:`Submit` / :class:`Cancel` / :class:`Status` / :class:`Ping` / :class:`Shutdown`, and the server sends
:class:`Progress` / :class:`Result` / :class:`Error` for its jobs, :class:`StatusReply` and :class:`Pong`.

Only data travels: job kinds are names the backend registered; there is no message that carries code.
Large arrays travel as files in the job folder; ``Result.files`` maps a role (``"rig"``) to an absolute path.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import time
from typing import ClassVar

PROTOCOL_VERSION = 1
MAX_FRAME = 1 << 20  # bytes of JSON per frame (1 MiB): control messages and paths only
HEADER = struct.Struct(">I")

# Error.kind values
ERR_AUTH = "auth"  # wrong token or protocol version (connection closed)
ERR_PROTOCOL = "protocol"  # malformed frame or message (connection closed)
ERR_BAD_REQUEST = "bad_request"  # valid message the server cannot act on (duplicate job id, unknown job)
ERR_UNKNOWN_KIND = "unknown_kind"  # no job of that kind is registered in this backend
ERR_CANCELLED = "cancelled"  # the job was cancelled before it finished
ERR_FAILED = "job_failed"  # the job raised a user-facing JobError (message says what to fix)
ERR_INTERNAL = "internal"  # the job raised an unexpected exception (traceback attached)
ERR_BACKEND_DIED = "backend_died"  # synthesized by the client when the backend process or socket goes away


class ProtocolError(ValueError):
    """A frame or message that does not follow this protocol."""


# -- messages -----------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Hello:
    TYPE: ClassVar[str] = "hello"
    protocol_version: int
    token: str


@dataclasses.dataclass(frozen=True)
class Welcome:
    TYPE: ClassVar[str] = "welcome"
    protocol_version: int
    pid: int  # the backend's process id
    device: str  # "cpu" or "cuda:0": where jobs run


@dataclasses.dataclass(frozen=True)
class Submit:
    TYPE: ClassVar[str] = "submit"
    job_id: str  # chosen by the client, unique per connection: 1-64 of [A-Za-z0-9_.-]
    kind: str  # a registered job kind ("build_body", "estimate", ...)
    params: dict  # JSON object of the job's parameters


@dataclasses.dataclass(frozen=True)
class Progress:
    TYPE: ClassVar[str] = "progress"
    job_id: str
    stage: str  # "queued", "load_model", ...
    done: int  # steps done in this stage
    total: int  # steps in this stage (0: unknown)
    message: str


@dataclasses.dataclass(frozen=True)
class Result:
    TYPE: ClassVar[str] = "result"
    job_id: str
    files: dict  # role -> absolute path (str)


@dataclasses.dataclass(frozen=True)
class Error:
    TYPE: ClassVar[str] = "error"
    job_id: str  # "" for a connection-level error
    kind: str  # one of the ERR_* values
    message: str  # user-facing: what went wrong and how to fix it
    traceback: str  # "" unless unexpected


@dataclasses.dataclass(frozen=True)
class Cancel:
    TYPE: ClassVar[str] = "cancel"
    job_id: str


@dataclasses.dataclass(frozen=True)
class Status:
    TYPE: ClassVar[str] = "status"


@dataclasses.dataclass(frozen=True)
class StatusReply:
    TYPE: ClassVar[str] = "status_reply"
    jobs: list  # [{"job_id", "kind", "state", "stage", "done", "total"}] of this connection's jobs


@dataclasses.dataclass(frozen=True)
class Ping:
    TYPE: ClassVar[str] = "ping"
    seq: int


@dataclasses.dataclass(frozen=True)
class Pong:
    TYPE: ClassVar[str] = "pong"
    seq: int


@dataclasses.dataclass(frozen=True)
class Shutdown:
    TYPE: ClassVar[str] = "shutdown"


Message = Hello | Welcome | Submit | Progress | Result | Error | Cancel | Status | StatusReply | Ping | Pong | Shutdown
MESSAGE_TYPES: dict[str, type] = {cls.TYPE: cls for cls in (
    Hello, Welcome, Submit, Progress, Result, Error, Cancel, Status, StatusReply, Ping, Pong, Shutdown)}
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")

# annotation string -> accepted Python types after json.loads (bool is rejected where int is expected)
_TYPES = {"int": (int,), "str": (str,), "dict": (dict,), "list": (list,)}
_JOB_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def valid_job_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 64 and set(job_id) <= _JOB_ID_CHARS


def _check_fields(cls: type, obj: dict) -> dict:
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    given = set(obj) - {"type"}
    if missing := sorted(set(fields) - given):
        raise ProtocolError(f"{cls.TYPE}: missing field(s) {missing}")
    if extra := sorted(given - set(fields)):
        raise ProtocolError(f"{cls.TYPE}: unknown field(s) {extra}")
    for name, annotation in fields.items():
        value = obj[name]
        if isinstance(value, bool) or not isinstance(value, _TYPES[annotation]):
            raise ProtocolError(f"{cls.TYPE}.{name}: expected {annotation}, got {type(value).__name__}")
    return {name: obj[name] for name in fields}


def _check_message(msg: Message) -> None:
    """Semantic checks beyond JSON types."""
    if isinstance(msg, (Submit, Cancel)) and not valid_job_id(msg.job_id):
        raise ProtocolError(f"{msg.TYPE}.job_id {msg.job_id[:80]!r}: use 1-64 characters of A-Z a-z 0-9 _ . -")
    if isinstance(msg, Progress) and (msg.done < 0 or msg.total < 0):
        raise ProtocolError("progress: done and total must be >= 0")
    if isinstance(msg, Result) and not all(isinstance(k, str) and isinstance(v, str) for k, v in msg.files.items()):
        raise ProtocolError("result.files must map strings to path strings")
    if isinstance(msg, StatusReply) and not all(isinstance(j, dict) for j in msg.jobs):
        raise ProtocolError("status_reply.jobs must be a list of objects")


def to_dict(msg: Message) -> dict:
    if type(msg) not in MESSAGE_TYPES.values():
        raise ProtocolError(f"not a protocol message: {type(msg).__name__}")
    return {"type": msg.TYPE, **dataclasses.asdict(msg)}


def from_dict(obj: object) -> Message:
    """A decoded JSON value -> its message dataclass; raises ProtocolError on anything unexpected."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {str(kind)[:40]!r}")
    cls = MESSAGE_TYPES[kind]
    msg = cls(**_check_fields(cls, obj))
    _check_message(msg)
    return msg


def encode(msg: Message) -> bytes:
    """Message -> one frame (header + JSON payload)."""
    _check_message(msg)
    try:
        payload = json.dumps(to_dict(msg), separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{msg.TYPE}: not JSON-serialisable ({exc})") from exc
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"{msg.TYPE}: {len(payload)} bytes exceeds the {MAX_FRAME}-byte frame limit")
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> Message:
    """One frame's payload (without the header) -> message."""
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME}")
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"payload is not valid JSON ({str(exc)[:120]})") from exc
    return from_dict(obj)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def check_length(length: int) -> int:
    if length > MAX_FRAME:
        raise ProtocolError(f"frame header announces {length} bytes, more than the {MAX_FRAME}-byte limit")
    return length


class FrameDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the complete messages so far; the rest is buffered."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held in the buffer (non-zero at EOF means a truncated frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buf)
            check_length(length)
            if len(self._buf) < HEADER.size + length:
                break
            payload = bytes(self._buf[HEADER.size:HEADER.size + length])
            del self._buf[:HEADER.size + length]
            out.append(decode_payload(payload))
        return out


# -- blocking socket helpers ----------------------------------------------------------------------------------------
class ConnectionClosed(ConnectionError):
    """The peer closed the stream; ``truncated`` is True if it did so in the middle of a frame."""

    def __init__(self, message: str, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


def _recv_exact(sock: socket.socket, n: int, what: str, deadline: float | None = None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:  # one deadline for the whole frame, not a timeout per read
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the {what} did not arrive in time ({len(buf)}/{n} bytes)")
            sock.settimeout(remaining)
        chunk = sock.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            if buf or what == "payload":
                raise ConnectionClosed(f"connection closed in the middle of a frame ({what}: {len(buf)}/{n} bytes)",
                                       truncated=True)
            raise ConnectionClosed("connection closed")
        buf += chunk
    return bytes(buf)


def read_message(sock: socket.socket, deadline: float | None = None) -> Message:
    """Block until one whole frame arrives; raises ConnectionClosed at EOF and ProtocolError on a bad frame.
    ``deadline`` (``time.monotonic()`` seconds): the whole frame must arrive by then, else TimeoutError."""
    (length,) = HEADER.unpack(_recv_exact(sock, HEADER.size, "header", deadline))
    check_length(length)
    return decode_payload(_recv_exact(sock, length, "payload", deadline) if length else b"")


def send_message(sock: socket.socket, msg: Message) -> None:
    sock.sendall(encode(msg))
