"""The backend's local job server.

Threads, not asyncio: job functions are long, blocking torch/numpy code that would need a thread anyway; the add-on
side uses the same blocking stdlib socket helpers (Blender's Python has no event loop to share); and there are only
a handful of local connections. So: one accept thread, one thread per connection (blocking reads of whole frames),
one worker thread for jobs, one watchdog thread for the parent process. Every send goes through a per-connection
lock, so progress from the worker and replies from the connection thread never interleave inside a frame.

Listens on 127.0.0.1 (port chosen by the OS) or a Unix socket; every connection must authenticate with the token
the add-on put in ``SMPLPIX_TOKEN``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from backend.jobs.registry import registered_kinds
from backend.server.connection import Connection
from backend.server.worker import Worker
from blender_addon.ipc import protocol as P

log = logging.getLogger(__name__)
LISTEN_BACKLOG = 512  # pending connects the kernel queues before accept (a burst must not refuse the add-on)
MAX_UNAUTHENTICATED = 32  # connections still in their hello; beyond this the oldest is closed to admit a new one


class Server:
    """Accepts connections and owns the worker. ``start()`` binds and returns; ``wait()`` blocks until stopped."""

    def __init__(self, token: str, job_root: Path, host: str = "127.0.0.1", port: int = 0,
                 unix_path: str | None = None, device: str = "auto", parent_pid: int | None = None,
                 hello_timeout: float = 10.0) -> None:
        if not token:
            raise ValueError("an empty token would let any local process in")
        self.token = token
        self.host, self.port, self.unix_path = host, port, unix_path
        self.parent_pid = parent_pid
        self.hello_timeout = hello_timeout
        self.pid = os.getpid()
        self.worker = Worker(job_root, device)
        self._stopped = threading.Event()
        self._connections: set[Connection] = set()
        self._unauthenticated: dict[Connection, None] = {}  # insertion order = accept order
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._listener: socket.socket | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> dict:
        """Bind, start the threads, and return the ready record (what the CLI prints)."""
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(self.unix_path)
            os.chmod(self.unix_path, 0o600)
        else:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.bind((self.host, self.port))
            self.port = self._listener.getsockname()[1]
        self._listener.listen(min(LISTEN_BACKLOG, socket.SOMAXCONN) if socket.SOMAXCONN > 0 else LISTEN_BACKLOG)
        self._listener.settimeout(0.5)
        self.worker.start()
        threading.Thread(target=self._accept_loop, name="smplpix-accept", daemon=True).start()
        threading.Thread(target=self._watch_parent, name="smplpix-parent-watch", daemon=True).start()
        ready = {"ready": True, "port": None if self.unix_path else self.port, "protocol_version": P.PROTOCOL_VERSION,
                 "pid": self.pid, "kinds": list(registered_kinds())}
        if self.unix_path:
            ready["unix"] = self.unix_path
        log.info("listening on %s", self.unix_path or f"{self.host}:{self.port}")
        return ready

    def wait(self) -> None:
        while not self._stopped.wait(0.5):
            pass
        self._cleanup()

    def stop(self, reason: str) -> None:
        if not self._stopped.is_set():
            log.info("stopping: %s", reason)
            self._stopped.set()

    def _cleanup(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # cancels their jobs
            conn.close("server shutting down")
        self.worker.stop()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)
        log.info("stopped")

    def forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._unauthenticated.pop(conn, None)

    def authenticated(self, conn: Connection) -> None:
        with self._lock:
            self._unauthenticated.pop(conn, None)

    @property
    def unauthenticated_count(self) -> int:
        with self._lock:
            return len(self._unauthenticated)

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- threads ----------------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if not self._stopped.is_set():
                    log.exception("accept failed")
                    time.sleep(0.1)
                continue
            sock.settimeout(None)
            if sock.family != socket.AF_UNIX:  # small frames: no Nagle delay (40 ms per reply otherwise)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(next(self._ids), sock, self)
            with self._lock:
                self._connections.add(conn)
                self._unauthenticated[conn] = None
                evict = next(iter(self._unauthenticated)) if len(self._unauthenticated) > MAX_UNAUTHENTICATED else None
            if evict is not None:  # bounded threads and descriptors however many connect without a token
                evict.close(f"more than {MAX_UNAUTHENTICATED} connections waiting to authenticate; closing the "
                            "oldest", logging.WARNING)
            threading.Thread(target=conn.run, name=f"smplpix-conn-{conn.id}", daemon=True).start()

    def _watch_parent(self) -> None:
        """Stop when the process that started us is gone (the add-on's Blender crashed or was killed)."""
        start_ppid = os.getppid()
        while not self._stopped.wait(0.5):
            if os.getppid() != start_ppid:
                self.stop(f"parent process {start_ppid} exited")
            elif self.parent_pid and not _alive(self.parent_pid):
                self.stop(f"parent process {self.parent_pid} exited")


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate it on Windows; rely on getppid there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(token: str, job_root: Path, ready_stream=None, **kwargs) -> int:
    """Run a server until it is stopped; writes the ready line (one JSON object) to ``ready_stream``."""
    server = Server(token, job_root, **kwargs)
    ready = server.start()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: server.stop("SIGTERM"))
    stream = ready_stream or sys.stdout
    stream.write(json.dumps(ready) + "\n")
    stream.flush()
    server.wait()
    return 0
