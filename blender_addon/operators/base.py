"""Running backend jobs from operators: a modal operator in the UI, a blocking call in headless mode.

An operator describes its work as a generator ``steps(context)`` that yields :class:`JobStep` s and receives each
job's :class:`~blender_addon.ipc.protocol.Result`; after the last job it applies the result to the scene. So
``bpy.ops.smplpix.x('INVOKE_DEFAULT')`` in the UI runs modally (a timer drains the client's queue on the main
thread; Esc cancels; the operator's single undo step holds the whole result) and ``bpy.ops.smplpix.x()`` in a
script or ``blender -b`` blocks, printing ``SMPLPIX_PROGRESS {json}`` lines. Only the main thread touches bpy.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import bpy

from ..core.motion import MotionError
from ..core.rigspec import RigSpecError
from ..ipc import protocol as P
from ..ipc.client import BackendError
from ..ipc.session import SESSION, JobRecord

PROGRESS_PREFIX = "SMPLPIX_PROGRESS"
USER_ERRORS = (BackendError, RigSpecError, MotionError, OSError, ValueError)


class UserError(Exception):
    """A problem the user can fix; the message says how."""


@dataclasses.dataclass(frozen=True)
class JobStep:
    kind: str
    params: dict
    label: str


def progress_line(rec: JobRecord, msg: P.Message) -> str:
    """One parseable line per job message: ``SMPLPIX_PROGRESS {"job_id", "kind", "state", ...}``."""
    record = {"job_id": rec.job_id, "kind": rec.kind, "label": rec.label, "state": rec.state, "stage": rec.stage,
              "done": rec.done, "total": rec.total, "message": rec.message}
    if isinstance(msg, P.Result):
        record["files"] = msg.files
    if isinstance(msg, P.Error):
        record["error_kind"] = msg.kind
    return f"{PROGRESS_PREFIX} {json.dumps(record)}"


def print_progress(rec: JobRecord, msg: P.Message) -> None:
    print(progress_line(rec, msg), flush=True)
    sys.stdout.flush()


def unexpected_error_text(label: str, exc: BaseException) -> str:
    """One report line for an error that is not the user's to fix; the traceback goes to the system console."""
    import traceback

    traceback.print_exception(exc, file=sys.stderr)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{label} failed ({type(exc).__name__}: {first}); nothing was changed, details in the system console"


def error_text(rec: JobRecord) -> str:
    err = rec.error
    if err is None:
        return f"{rec.label}: failed"
    return f"{rec.label}: {err.message}"


# -- the Jobs panel's mirror of the session (main thread, via bpy.app.timers) -----------------------------------
def sync_jobs_ui() -> float | None:
    """Timer: drain the client queue and mirror job records into ``WindowManager.smplpix_jobs``."""
    changed = SESSION.pump()
    wm = bpy.context.window_manager
    if wm is None or not hasattr(wm, "smplpix_jobs"):
        return None
    items = wm.smplpix_jobs.jobs
    if len(items) != len(SESSION.jobs) or changed:
        items.clear()
        for rec in reversed(list(SESSION.jobs.values())):  # newest first
            item = items.add()
            item.job_id, item.kind, item.label = rec.job_id, rec.kind, rec.label
            item.state, item.stage, item.message = rec.state, rec.stage, rec.message[:500]
            item.progress = rec.fraction
        for window in wm.windows:
            for area in window.screen.areas:
                if area.type in ("VIEW_3D", "PREFERENCES"):
                    area.tag_redraw()
    busy = any(not r.finished for r in SESSION.jobs.values())
    return 0.25 if (SESSION.running or busy) else None


def ensure_jobs_timer() -> None:
    if not bpy.app.background and not bpy.app.timers.is_registered(sync_jobs_ui):
        bpy.app.timers.register(sync_jobs_ui, first_interval=0.1)


def backend_poll(cls, kind: str | None = None) -> bool:
    """Shared poll: the backend runs and (optionally) can run ``kind``; explains itself otherwise."""
    if not SESSION.running:
        cls.poll_message_set("The backend stopped unexpectedly: restart it in the SMPLpix sidebar (Jobs panel)"
                             if SESSION.died else "Start the backend first (SMPLpix sidebar > Jobs > Start Backend)")
        return False
    if kind is not None and kind not in SESSION.kinds:
        cls.poll_message_set(f"This backend has no '{kind}' capability installed")
        return False
    return True


class JobOperator:
    """Mixin for operators whose work runs as backend jobs. Subclasses implement ``steps(context)``."""

    _gen = None
    _job_id = ""
    _label = ""
    _timer = None

    def steps(self, context):  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    # -- blocking (scripts, headless) -------------------------------------------------------------------------
    def execute(self, context):
        listener = print_progress if bpy.app.background else None
        if listener:
            SESSION.listeners.append(listener)
        try:
            gen = self.steps(context)
            step = next(gen)
            while True:
                job_id = SESSION.submit(step.kind, step.params, step.label)
                rec = SESSION.wait(job_id)
                if rec.error is not None:
                    gen.close()
                    self.report({"ERROR"} if rec.state == "failed" else {"WARNING"}, error_text(rec))
                    return {"CANCELLED"}
                step = gen.send(rec.result)
        except StopIteration:
            return {"FINISHED"}
        except (UserError, *USER_ERRORS) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # the builders have already removed what they made
            self.report({"ERROR"}, unexpected_error_text(self.bl_label, exc))
            return {"CANCELLED"}
        finally:
            if listener and listener in SESSION.listeners:
                SESSION.listeners.remove(listener)

    # -- modal (the UI) ---------------------------------------------------------------------------------------
    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        self._gen = self.steps(context)
        try:
            if not self._submit(next(self._gen)):
                return {"CANCELLED"}
        except StopIteration:
            return {"FINISHED"}
        except (UserError, *USER_ERRORS) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        return {"RUNNING_MODAL"}

    def _submit(self, step: JobStep) -> bool:
        try:
            self._job_id = SESSION.submit(step.kind, step.params, step.label)
        except BackendError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        self._label = step.label
        ensure_jobs_timer()
        return True

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            SESSION.cancel(self._job_id)
            self._finish(context)
            self.report({"WARNING"}, f"{self._label}: cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER" or event.timer is not self._timer:
            return {"PASS_THROUGH"}
        SESSION.pump()
        rec = SESSION.jobs.get(self._job_id)
        if rec is None:
            self._finish(context)
            return {"CANCELLED"}
        self._show_progress(context, rec)
        if not rec.finished:
            return {"PASS_THROUGH"}
        if rec.error is not None:
            self._finish(context)
            self.report({"ERROR"} if rec.state == "failed" else {"WARNING"}, error_text(rec))
            return {"CANCELLED"}
        try:
            step = self._gen.send(rec.result)
        except StopIteration:
            self._finish(context)
            return {"FINISHED"}
        except (UserError, *USER_ERRORS) as exc:
            self._finish(context)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # the builders have already removed what they made
            self._finish(context)
            self.report({"ERROR"}, unexpected_error_text(self._label, exc))
            return {"CANCELLED"}
        if not self._submit(step):
            self._finish(context)
            return {"CANCELLED"}
        return {"PASS_THROUGH"}

    def _show_progress(self, context, rec: JobRecord) -> None:
        text = f"SMPLpix: {rec.label} - {rec.stage} {rec.done}/{rec.total}" if rec.total else \
            f"SMPLpix: {rec.label} - {rec.stage}"
        context.workspace.status_text_set(f"{text}  (Esc to cancel)")
        context.window_manager.progress_update(int(rec.fraction * 1000))

    def _finish(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if self._gen is not None:
            self._gen.close()
