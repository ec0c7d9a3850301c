"""Client side of the protocol (stdlib only): what the add-on (and scripts, and tests) use to drive the backend.

``BackendClient`` connects, says hello, and starts a reader thread that puts every decoded message on
``client.messages`` (a ``queue.Queue``). The add-on's main thread drains that queue from a timer, so no bpy call
ever happens on the reader thread. When the socket reaches EOF (or the backend process exits), the reader puts one
``Error(kind="backend_died")`` for every job still pending, then ``None`` as the end-of-stream marker.
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable

from . import protocol as P

log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """The backend refused us, or is not reachable."""


class BackendClient:
    """One authenticated connection. Thread-safe sends; messages arrive on :attr:`messages`.

    ``alive`` (optional) returns False once the backend process is gone (``Popen.poll() is not None``); it lets
    :meth:`wait_for` notice a dead backend even when the socket stays half-open.
    """

    def __init__(self, address: tuple[str, int] | str, token: str, timeout: float = 10.0,
                 alive: Callable[[], bool] | None = None) -> None:
        self.address = address
        self.messages: queue.Queue[P.Message | None] = queue.Queue()
        self.pending: dict[str, str] = {}  # job_id -> kind, until its result/error
        self._alive = alive
        self._send_lock = threading.Lock()
        self._seq = itertools.count(1)
        self._closed = threading.Event()
        self._end_lock = threading.Lock()
        self._ended = False
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(address)
            if family == socket.AF_INET:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            P.send_message(self.sock, P.Hello(P.PROTOCOL_VERSION, token))
            reply = P.read_message(self.sock)
        except (OSError, P.ProtocolError) as exc:
            self.sock.close()
            raise BackendError(f"cannot connect to the backend at {address}: {exc}. Restart the backend.") from exc
        if isinstance(reply, P.Error):
            self.sock.close()
            raise BackendError(f"the backend refused the connection: {reply.message}")
        if not isinstance(reply, P.Welcome):
            self.sock.close()
            raise BackendError(f"the backend answered hello with {reply.TYPE}")
        self.welcome = reply
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name="smplpix-client-reader", daemon=True)
        self._reader.start()

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return not self._closed.is_set() and (self._alive is None or self._alive())

    def _read_loop(self) -> None:
        reason = "the backend closed the connection"
        try:
            while True:
                msg = P.read_message(self.sock)
                if isinstance(msg, (P.Result, P.Error)):
                    self.pending.pop(msg.job_id, None)
                self.messages.put(msg)
        except P.ConnectionClosed as exc:
            reason = f"the backend closed the connection ({exc})"
        except P.ProtocolError as exc:
            reason = f"the backend sent a malformed message ({exc})"
        except OSError as exc:
            if self._closed.is_set():
                reason = "closed by the add-on"
            else:
                reason = f"connection to the backend lost ({exc})"
        self._end(reason)

    def _end(self, reason: str) -> None:
        """Once: an error for every pending job, then the end marker (called by the reader or by a waiter)."""
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
            self._closed.set()
            for job_id in list(self.pending):
                self.pending.pop(job_id, None)
                self.messages.put(P.Error(job_id, P.ERR_BACKEND_DIED,
                                          f"{reason}; the job was lost. Restart the backend and run it again.", ""))
            self.messages.put(None)

    # -- requests ---------------------------------------------------------------------------------------------
    def send(self, msg: P.Message) -> None:
        data = P.encode(msg)
        with self._send_lock:
            if self._closed.is_set():
                raise BackendError("the backend connection is closed; restart the backend")
            try:
                self.sock.sendall(data)
            except OSError as exc:
                raise BackendError(f"cannot reach the backend ({exc}); restart it") from exc

    def submit(self, kind: str, params: dict, job_id: str | None = None) -> str:
        job_id = job_id or f"{kind}-{uuid.uuid4().hex[:12]}"
        self.pending[job_id] = kind
        try:
            self.send(P.Submit(job_id, kind, params))
        except BackendError:
            self.pending.pop(job_id, None)
            raise
        return job_id

    def cancel(self, job_id: str) -> None:
        self.send(P.Cancel(job_id))

    def status(self) -> None:
        """Ask for this connection's jobs; the answer arrives as a StatusReply on :attr:`messages`."""
        self.send(P.Status())

    def ping(self) -> int:
        seq = next(self._seq)
        self.send(P.Ping(seq))
        return seq

    def shutdown(self) -> None:
        self.send(P.Shutdown())

    def close(self) -> None:
        """Close the socket (also after the backend ended the stream, when ``_closed`` is already set) and wait
        for the reader thread; idempotent."""
        self._closed.set()
        if self.sock.fileno() != -1:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        if self._reader is not threading.current_thread():
            self._reader.join(2.0)

    # -- blocking helpers (headless mode, scripts, tests) ------------------------------------------------------
    def next_message(self, timeout: float = 0.1) -> P.Message | None:
        """The next message, or None on timeout. Raises BackendError once the stream ended or the process died."""
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            if self._alive is not None and not self._alive() and not self._ended:
                self._end("the backend process exited")
                return self.next_message(0)
            if self._closed.is_set() and self.messages.empty():
                raise BackendError("the backend connection is closed") from None
            return None
        if msg is None:
            self.messages.put(None)  # keep the end marker for later callers
            raise BackendError("the backend connection ended")
        return msg

    def wait_for(self, job_id: str, on_progress: Callable[[P.Progress], None] | None = None,
                 timeout: float | None = None) -> P.Result | P.Error:
        """Block until ``job_id`` ends; other jobs' messages are dropped. Returns its Result or Error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            try:
                msg = self.next_message(0.1)
            except BackendError:
                return P.Error(job_id, P.ERR_BACKEND_DIED, "the backend stopped before the job finished. "
                                                           "Restart the backend and run it again.", "")
            if msg is None or getattr(msg, "job_id", None) != job_id:
                continue
            if isinstance(msg, P.Progress):
                if on_progress is not None:
                    on_progress(msg)
            elif isinstance(msg, (P.Result, P.Error)):
                return msg
        raise TimeoutError(f"job {job_id} did not finish within {timeout} s")

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
