"""The add-on's connection to its backend: one process, one client, and a record per submitted job (no bpy).

Only the main thread calls :meth:`Session.pump`, which drains the client's queue (filled by its reader thread) into
:class:`JobRecord` objects; operators and the Jobs panel read those records. Headless code calls :meth:`wait`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from .backend_process import BackendProcess
from ..ipc import protocol as P
from ..ipc.client import BackendClient, BackendError

FINISHED_STATES = ("done", "failed", "cancelled")


@dataclasses.dataclass
class JobRecord:
    """What the add-on knows about one job. ``result``/``error`` is set once it ends."""

    job_id: str
    kind: str
    label: str
    state: str = "queued"  # queued | running | done | failed | cancelled
    stage: str = "queued"
    done: int = 0
    total: int = 0
    message: str = ""
    result: P.Result | None = None
    error: P.Error | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def fraction(self) -> float:
        """Progress of the current stage in [0, 1] (0 when its length is unknown)."""
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def apply(self, msg: P.Message) -> None:
        if isinstance(msg, P.Progress):
            self.state = "queued" if msg.stage == "queued" else "running"
            self.stage, self.done, self.total, self.message = msg.stage, msg.done, msg.total, msg.message
        elif isinstance(msg, P.Result):
            self.state, self.result, self.message = "done", msg, "done"
        elif isinstance(msg, P.Error):
            self.state = "cancelled" if msg.kind == P.ERR_CANCELLED else "failed"
            self.error, self.message = msg, msg.message


Listener = Callable[[JobRecord, P.Message], None]


class Session:
    """Owns the backend process and its client. Not thread-safe: use from Blender's main thread only."""

    def __init__(self) -> None:
        self.process: BackendProcess | None = None
        self.client: BackendClient | None = None
        self.jobs: dict[str, JobRecord] = {}
        self.listeners: list[Listener] = []
        self.last_error = ""

    # -- backend lifecycle ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running and self.client is not None \
            and self.client.connected

    @property
    def died(self) -> bool:
        """The backend was started by us and is gone without being stopped (crash, kill)."""
        return self.process is not None and not self.running

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.process.kinds if self.running else ()

    def start(self, python: str | Path | None = None, job_root: str | Path | None = None, device: str = "auto",
              extra_env: dict | None = None, timeout: float = 120.0) -> dict:
        """Start (or restart) the backend and connect; raises BackendError with the reason."""
        self.stop()
        process = BackendProcess(python=python or None, job_root=job_root or None, device=device,
                                 extra_env=extra_env)
        ready = process.start(timeout)
        try:
            self.client = process.connect()
        except BackendError:
            process.stop()
            raise
        self.process = process
        self.last_error = ""
        return ready

    def stop(self) -> None:
        """Ask the backend to shut down (cancelling its jobs) and wait for it; pending jobs end as cancelled."""
        client, process = self.client, self.process
        self.client = self.process = None
        if client is not None:
            try:
                client.shutdown()
            except BackendError:
                pass
        if process is not None:
            if process.proc is not None:
                try:
                    process.proc.wait(5)
                except Exception:
                    pass
            process.stop()
        if client is not None:
            client.close()
        for rec in self.jobs.values():
            if not rec.finished:
                rec.apply(P.Error(rec.job_id, P.ERR_CANCELLED, "the backend was stopped", ""))

    # -- jobs -------------------------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict, label: str = "") -> str:
        if not self.running:
            raise BackendError("the backend is not running; start it in the SMPLpix sidebar (Jobs panel)"
                               if not self.died else "the backend stopped unexpectedly; restart it in the SMPLpix "
                                                     "sidebar (Jobs panel) and try again")
        if kind not in self.kinds:
            raise BackendError(f"this backend cannot run {kind!r} jobs (it has: {', '.join(self.kinds)}); install "
                               "that capability in the backend's environment")
        job_id = self.client.submit(kind, params)
        self.jobs[job_id] = JobRecord(job_id, kind, label or kind)
        return job_id

    def cancel(self, job_id: str) -> None:
        rec = self.jobs.get(job_id)
        if rec is None or rec.finished:
            return
        if self.running:
            self.client.cancel(job_id)
        else:
            rec.apply(P.Error(job_id, P.ERR_BACKEND_DIED, "the backend is not running", ""))

    def pump(self) -> bool:
        """Route every queued message to its job record; True if anything changed. Main thread only."""
        client = self.client
        if client is None:
            return False
        changed = False
        while True:
            try:
                msg = client.next_message(0)
            except BackendError:
                break
            if msg is None:
                break
            changed = True
            rec = self.jobs.get(getattr(msg, "job_id", ""))
            if rec is None:
                continue
            rec.apply(msg)
            for listener in list(self.listeners):
                listener(rec, msg)
        if self.died and not self.last_error:
            code = self.process.returncode if self.process else None
            self.last_error = f"the backend exited (code {code}); restart it"
            changed = True
        return changed

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.05) -> JobRecord:
        """Block (headless) until the job ends; returns its record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        rec = self.jobs[job_id]
        while not rec.finished:
            self.pump()
            if rec.finished:
                break
            if self.client is None:
                rec.apply(P.Error(job_id, P.ERR_BACKEND_DIED, "the backend was stopped", ""))
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} ({rec.kind}) did not finish within {timeout} s")
            time.sleep(poll)
        return rec

    def forget_finished(self) -> None:
        self.jobs = {k: r for k, r in self.jobs.items() if not r.finished}


SESSION = Session()
