"""One client connection: handshake, request handling, and the jobs it owns.

Jobs belong to the connection that submitted them: ``status`` lists and ``cancel`` reaches only its own jobs, and
results go back only to it. When a client disconnects its queued and running jobs are cancelled (their results
would have no reader, and the GPU is freed for the next client); the server itself keeps serving.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

from backend.jobs.registry import get_job, registered_kinds, validate_params
from backend.server.worker import Job
from blender_addon.core.jobs import ParamError
from blender_addon.ipc import protocol as P

if TYPE_CHECKING:
    from backend.server.server import Server

log = logging.getLogger(__name__)
MAX_JOBS_PER_CONNECTION = 10_000


class Connection:
    """Serves one socket on its own thread; ``send`` may be called from any thread."""

    def __init__(self, conn_id: int, sock: socket.socket, server: Server) -> None:
        self.id = conn_id
        self.sock = sock
        self.server = server
        self.jobs: dict[str, Job] = {}
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self.authenticated = False
        self.accepted_at = time.monotonic()

    # -- sending ----------------------------------------------------------------------------------------------
    def send(self, msg: P.Message) -> bool:
        """Send one message; False if the connection is gone (the caller need not care)."""
        if self._closed.is_set():
            return False
        data = P.encode(msg)
        with self._send_lock:
            try:
                self.sock.sendall(data)
                return True
            except OSError as exc:
                log.info("connection %d: send failed (%s)", self.id, exc)
                return False

    def close(self, reason: str, level: int = logging.INFO) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        log.log(level, "connection %d closed: %s", self.id, reason)
        pending = [job for job in list(self.jobs.values()) if job.state in ("queued", "running")]
        for job in pending:
            job.cancel.set()
        if pending:
            log.info("connection %d: cancelled %d job(s) of the departed client", self.id, len(pending))
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.server.forget(self)

    def _reject(self, kind: str, reason: str) -> None:
        """Tell the peer why (best effort), then close with a logged reason."""
        self.send(P.Error("", kind, reason, ""))
        self.close(f"{kind}: {reason}", logging.WARNING)

    # -- serving ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            if self._handshake():
                self._serve()
        except P.ConnectionClosed as exc:
            self.close(f"client {'truncated a frame' if exc.truncated else 'disconnected'} ({exc})",
                       logging.WARNING if exc.truncated else logging.INFO)
        except P.ProtocolError as exc:
            self._reject(P.ERR_PROTOCOL, str(exc))
        except TimeoutError:
            self._reject(P.ERR_AUTH, f"no hello within {self.server.hello_timeout:.0f} s")
        except OSError as exc:
            self.close(f"socket error ({exc})")
        except Exception:  # never let one connection take the server down
            log.exception("connection %d: unexpected error", self.id)
            self.close("internal error", logging.ERROR)

    def _handshake(self) -> bool:
        """The hello must arrive whole within ``hello_timeout`` of the accept: one deadline for the whole frame,
        so a client trickling a byte at a time cannot hold the connection."""
        msg = P.read_message(self.sock, deadline=self.accepted_at + self.server.hello_timeout)
        if not isinstance(msg, P.Hello):
            self._reject(P.ERR_AUTH, f"the first message must be hello, got {msg.TYPE}")
            return False
        if msg.protocol_version != P.PROTOCOL_VERSION:
            self._reject(P.ERR_AUTH, f"protocol version {msg.protocol_version}; this backend speaks "
                                     f"{P.PROTOCOL_VERSION}. Update the add-on and the backend together.")
            return False
        if not hmac.compare_digest(msg.token.encode("utf-8", "replace"), self.server.token.encode("utf-8")):
            self._reject(P.ERR_AUTH, "wrong token")
            return False
        self.sock.settimeout(None)
        self.authenticated = True
        self.server.authenticated(self)
        self.send(P.Welcome(P.PROTOCOL_VERSION, self.server.pid, self.server.worker.device_setting))
        log.info("connection %d authenticated", self.id)
        return True

    def _serve(self) -> None:
        while not self._closed.is_set():
            msg = P.read_message(self.sock)
            if isinstance(msg, P.Submit):
                self._submit(msg)
            elif isinstance(msg, P.Cancel):
                self._cancel(msg.job_id)
            elif isinstance(msg, P.Status):
                self.send(P.StatusReply([job.status() for job in self.jobs.values()]))
            elif isinstance(msg, P.Ping):
                self.send(P.Pong(msg.seq))
            elif isinstance(msg, P.Shutdown):
                log.info("connection %d asked the server to shut down", self.id)
                self.server.stop("shutdown requested by a client")
                return
            else:
                self._reject(P.ERR_PROTOCOL, f"a client may not send {msg.TYPE}")
                return

    def _submit(self, msg: P.Submit) -> None:
        if msg.job_id in self.jobs:
            self.send(P.Error(msg.job_id, P.ERR_BAD_REQUEST, f"job id {msg.job_id!r} is already in use", ""))
            return
        if len(self.jobs) >= MAX_JOBS_PER_CONNECTION:
            self.send(P.Error(msg.job_id, P.ERR_BAD_REQUEST, "too many jobs on this connection; reconnect", ""))
            return
        if get_job(msg.kind) is None:
            kinds = ", ".join(registered_kinds()) or "none"
            self.send(P.Error(msg.job_id, P.ERR_UNKNOWN_KIND, f"this backend has no {msg.kind!r} job (available: "
                                                               f"{kinds}); install that capability", ""))
            return
        try:
            params = validate_params(msg.kind, msg.params)
        except ParamError as exc:  # checked once, here: the job is never queued
            self.send(P.Error(msg.job_id, P.ERR_FAILED, f"bad parameters: {exc}"[:8000], ""))
            log.info("connection %d: job %s (%s) refused: %s", self.id, msg.job_id, msg.kind, exc)
            return
        job = Job(msg.job_id, msg.kind, params, self.id, self.send)
        self.jobs[msg.job_id] = job
        ahead = self.server.worker.backlog()
        self.send(P.Progress(msg.job_id, "queued", 0, 0, f"queued ({ahead} ahead)" if ahead else "queued"))
        self.server.worker.submit(job)  # after the "queued" message, so the worker's progress follows it
        log.info("connection %d queued job %s (%s)", self.id, msg.job_id, msg.kind)

    def _cancel(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            self.send(P.Error(job_id, P.ERR_BAD_REQUEST, f"no job {job_id!r} on this connection", ""))
            return
        if job.state in ("queued", "running"):
            job.cancel.set()
            log.info("connection %d cancels job %s", self.id, job_id)
