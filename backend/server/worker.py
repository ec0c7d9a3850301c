"""The single job worker: one thread that runs queued jobs one at a time (on the GPU when there is one).

One worker, not a pool: jobs share one GPU and its memory, and a queue gives the user a predictable order.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from backend.jobs.registry import JobContext, JobError, get_job
from backend.runtime import Cancelled
from blender_addon.core.jobs import JobParams, ParamError
from blender_addon.ipc import protocol as P

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class Job:
    """A submitted job; mutable state is written by the worker thread only (``cancel`` by anyone).

    ``params``: the validated contract object (or the dict of a kind without a contract); ``owner``: who submitted
    it (a connection id: names the job folder and the log lines); ``emit(message)``: delivers the job's progress and
    its final Result/Error to whoever owns it (the worker never sees a connection); returns False if nobody listens.
    """

    job_id: str
    kind: str
    params: JobParams | dict
    owner: int
    emit: Callable[[P.Message], bool]
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    state: str = "queued"
    stage: str = "queued"
    done: int = 0
    total: int = 0

    def status(self) -> dict:
        return {"job_id": self.job_id, "kind": self.kind, "state": self.state, "stage": self.stage,
                "done": self.done, "total": self.total}


def resolve_device(setting: str) -> str:
    """"auto" -> "cuda" if torch sees a GPU else "cpu" (imports torch only when asked)."""
    if setting != "auto":
        return setting
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


class Worker:
    """Runs jobs from a FIFO queue on one thread; results and errors go back to each job's own connection."""

    def __init__(self, job_root: Path, device: str = "auto") -> None:
        self.job_root = Path(job_root)
        self.device_setting = device
        self._device: str | None = None
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="smplpix-worker", daemon=True)
        self.current: Job | None = None

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.device_setting)
            log.info("jobs run on %s", self._device)
        return self._device

    def start(self) -> None:
        self._thread.start()

    def backlog(self) -> int:
        """Jobs queued or running (how many a new job would wait for)."""
        return self._queue.qsize() + (1 if self.current is not None else 0)

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish (cancel) the current job at its next check and end the thread."""
        if self.current is not None:
            self.current.cancel.set()
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("worker did not stop within %.0f s (job %s ignores cancel)", timeout,
                        self.current.job_id if self.current else "?")

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.cancel.is_set():
                self._finish(job, "cancelled", P.Error(job.job_id, P.ERR_CANCELLED, "cancelled before it started", ""))
                continue
            self.current = job
            try:
                self._execute(job)
            finally:
                self.current = None

    def _execute(self, job: Job) -> None:
        fn = get_job(job.kind)
        job.state = "running"
        log.info("job %s (%s) of connection %d started", job.job_id, job.kind, job.owner)

        def report(stage: str, done: int, total: int, message: str) -> None:
            job.stage, job.done, job.total = stage, done, total
            job.emit(P.Progress(job.job_id, stage, done, total, message[:2000]))

        try:
            if fn is None:
                raise JobError(f"job kind {job.kind!r} is no longer registered")
            job_dir = self._job_dir(job)
            ctx = JobContext(job.job_id, job_dir, self.device, report, job.cancel)
            ctx.check_cancelled()
            files = fn(job.params if isinstance(job.params, JobParams) else dict(job.params), ctx)
            out = {str(role): str(Path(path).resolve()) for role, path in (files or {}).items()}
            missing = [p for p in out.values() if not Path(p).exists()]
            if missing:
                raise RuntimeError(f"job {job.kind} returned files that do not exist: {missing}")
        except Cancelled:  # the job's token (JobCancelled) or a step's own Cancelled subclass
            self._finish(job, "cancelled", P.Error(job.job_id, P.ERR_CANCELLED, f"{job.kind} cancelled", ""))
        except (JobError, ParamError) as exc:
            self._finish(job, "failed", P.Error(job.job_id, P.ERR_FAILED, str(exc)[:8000], traceback.format_exc()))
        except Exception as exc:  # an unexpected bug: keep the server alive, give the user the traceback
            log.exception("job %s (%s) crashed", job.job_id, job.kind)
            self._finish(job, "failed", P.Error(job.job_id, P.ERR_INTERNAL,
                                                f"{job.kind} failed unexpectedly: {type(exc).__name__}: {exc}"[:8000],
                                                traceback.format_exc()[-60000:]))
        else:
            self._finish(job, "done", P.Result(job.job_id, out))

    def _finish(self, job: Job, state: str, msg: P.Message) -> None:
        job.state = state
        log.info("job %s (%s) %s", job.job_id, job.kind, state)
        job.emit(msg)

    def _job_dir(self, job: Job) -> Path:
        """``<job root>/c<owner>-<job id>``, created; a job root that cannot be written is a JobError saying so."""
        job_dir = self.job_root / f"c{job.owner}-{job.job_id}"
        try:
            job_dir.mkdir(parents=True, exist_ok=True)
            probe = job_dir / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise JobError(f"cannot write the job folder {job_dir} ({exc.strerror or exc}); start the backend with "
                           "a writable --job-root (the add-on's preferences: job folder)") from exc
        return job_dir
