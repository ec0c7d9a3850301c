"""Job kinds the server can run, and the context a job function receives.

A job function has the signature ``fn(params, ctx: JobContext) -> dict[str, str | Path]``. ``params`` is the
validated contract object (``blender_addon.core.jobs``: ``contract(kind).from_params(json)``, checked once by the
server before the job is queued) for kinds that have a contract, else the JSON dict; a function starts with
``P = parse_params(XParams, params)`` (or ``XParams.from_params(params)``), which returns an object of that class
unchanged and checks a dict (a direct call). It writes its outputs into ``ctx.job_dir``, reports progress with
``ctx.progress(stage, done, total, message)``, stops when ``ctx.token`` says so (``ctx.check_cancelled()`` between
steps), and returns ``{role: path}`` of the files it wrote (roles: the contract's ``ROLE_*`` constants). A problem the
user can fix is raised as :class:`JobError` with a message that says how.

Capabilities register their kinds with :func:`register_job` when their module is imported; the server imports the
modules named in :data:`JOB_MODULES` (and :data:`TEST_JOB_MODULES` when test jobs are enabled), skipping those that
are not present in this checkout.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import typing
from collections.abc import Callable
from pathlib import Path

from backend.runtime import CancelToken, Cancelled
from blender_addon.core.jobs import JobParams, ParamError, contract

log = logging.getLogger(__name__)

# module -> job kinds it registers on import
JOB_MODULES = (
    "backend.jobs.build_body",  # build_body
    "backend.jobs.memory",  # free_memory
    "backend.fitting.jobs",  # estimate
    "backend.jobs.estimate_multi_job",  # estimate_multi (several people / calibrated views)
    "backend.avatar.jobs",  # train_avatar, render_avatar
    "backend.generate.jobs",  # generate_random, generate_interpolate, generate_reroll
    "backend.scan.jobs",  # scan_fit, scan_rig
)
TEST_JOB_MODULES = ("backend.jobs.testing",)  # count, fail (only with SMPLPIX_TEST_JOBS=1)


class JobError(Exception):
    """A job failed for a reason the user can fix; the message says what and how."""


class JobCancelled(Cancelled):
    """Raised by :meth:`JobContext.check_cancelled` once the job's owner asked to cancel it."""


@dataclasses.dataclass(frozen=True)
class JobContext:
    """What a running job may use. ``device`` is ``"cpu"`` or ``"cuda"`` (resolved by the server)."""

    job_id: str
    job_dir: Path
    device: str
    _report: Callable[[str, int, int, str], None]
    _cancel: threading.Event

    def progress(self, stage: str, done: int = 0, total: int = 0, message: str = "") -> None:
        """Report ``done`` of ``total`` steps (0: unknown) of ``stage``; also a cancellation point."""
        self._report(str(stage), max(0, int(done)), max(0, int(total)), str(message))
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled(self.job_id)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def token(self) -> CancelToken:
        """This job's cancellation token (``token()`` / ``token.check()``) for the steps the job calls."""
        return CancelToken(self._cancel, JobCancelled)


JobFn = Callable[[JobParams | dict, JobContext], dict]


P_ = typing.TypeVar("P_", bound=JobParams)


def parse_params(cls: type[P_], params: object) -> P_:
    """``cls.from_params(params)`` with a :class:`ParamError` turned into a :class:`JobError` (how a job function
    starts: ``P = parse_params(XParams, params)``; an object of ``cls`` is returned unchanged)."""
    try:
        return cls.from_params(params)
    except ParamError as exc:
        raise JobError(f"bad parameters: {exc}") from exc


def validate_params(kind: str, params: object) -> JobParams | dict:
    """The typed parameters of a ``kind`` job (its contract's ``from_params``), or the dict itself for a kind without
    a contract; raises :class:`ParamError` naming the parameter."""
    cls = contract(kind)
    if cls is not None:
        return cls.from_params(params)
    if not isinstance(params, dict):
        raise ParamError(f"{kind}: parameters must be an object, got {type(params).__name__}")
    return dict(params)
_JOBS: dict[str, JobFn] = {}
_LOCK = threading.Lock()


def register_job(kind: str, fn: JobFn) -> JobFn:
    """Make ``kind`` runnable by the server; re-registering the same function is a no-op."""
    with _LOCK:
        if kind in _JOBS and _JOBS[kind] is not fn:
            log.warning("job kind %r re-registered (%s replaces %s)", kind, fn, _JOBS[kind])
        _JOBS[kind] = fn
    return fn


def unregister_job(kind: str) -> None:
    with _LOCK:
        _JOBS.pop(kind, None)


def get_job(kind: str) -> JobFn | None:
    with _LOCK:
        return _JOBS.get(kind)


def registered_kinds() -> tuple[str, ...]:
    with _LOCK:
        return tuple(sorted(_JOBS))


def load_job_modules(modules: tuple[str, ...] = JOB_MODULES, test_jobs: bool = False) -> tuple[str, ...]:
    """Import the capability modules that register job kinds; absent ones are skipped. Returns the kinds."""
    for name in modules + (TEST_JOB_MODULES if test_jobs else ()):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                log.info("job module %s is not in this checkout; its jobs are unavailable", name)
                continue
            raise
    return registered_kinds()
