"""Operators for the backend process and the job list: start, stop, free GPU memory, cancel, clear."""

from __future__ import annotations

import bpy

from ..core.jobs.system import FreeMemoryParams
from ..ipc.client import BackendError
from ..preferences import backend_python, get_prefs
from .base import JobOperator, JobStep, backend_poll, ensure_jobs_timer, sync_jobs_ui
from ..ipc.session import SESSION


class SMPLPIX_OT_backend_start(bpy.types.Operator):
    """Start the SMPLpix backend (restarts it if it is running or died)"""

    bl_idname = "smplpix.backend_start"
    bl_label = "Start Backend"
    bl_options = {"REGISTER"}

    def execute(self, context):
        prefs = get_prefs(context)
        python = backend_python(prefs)
        job_root = bpy.path.abspath(prefs.job_folder) if prefs.job_folder else None
        try:
            ready = SESSION.start(python=python, job_root=job_root, device=prefs.device)
        except BackendError as exc:
            self.report({"ERROR"}, f"Backend did not start: {exc}")
            return {"CANCELLED"}
        ensure_jobs_timer()
        self.report({"INFO"}, f"Backend running (pid {ready['pid']}; jobs: {', '.join(ready.get('kinds', []))})")
        return {"FINISHED"}


class SMPLPIX_OT_backend_stop(bpy.types.Operator):
    """Stop the SMPLpix backend; its running jobs are cancelled"""

    bl_idname = "smplpix.backend_stop"
    bl_label = "Stop Backend"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if SESSION.process is None:
            cls.poll_message_set("The backend is not running")
            return False
        return True

    def execute(self, context):
        SESSION.stop()
        if not bpy.app.background:
            sync_jobs_ui()
        self.report({"INFO"}, "Backend stopped")
        return {"FINISHED"}


class SMPLPIX_OT_free_memory(JobOperator, bpy.types.Operator):
    """Drop the backend's cached models and return GPU memory to the system"""

    bl_idname = "smplpix.free_memory"
    bl_label = "Free GPU Memory"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return backend_poll(cls, "free_memory")

    def steps(self, context):
        yield JobStep(FreeMemoryParams.KIND, FreeMemoryParams().to_params(), "Free memory")
        self.report({"INFO"}, "Backend memory freed")


class SMPLPIX_OT_run_job(JobOperator, bpy.types.Operator):
    """Run a registered backend job by kind with JSON parameters (for scripts); leaves the scene unchanged"""

    bl_idname = "smplpix.run_job"
    bl_label = "Run Backend Job"
    bl_options = {"REGISTER", "INTERNAL"}

    kind: bpy.props.StringProperty(name="Kind")
    params: bpy.props.StringProperty(name="Parameters (JSON)", default="{}")

    @classmethod
    def poll(cls, context):
        return backend_poll(cls)

    def steps(self, context):
        import json

        from .base import UserError

        try:
            params = json.loads(self.params)
        except ValueError as exc:
            raise UserError(f"params is not JSON ({exc})") from exc
        if not isinstance(params, dict):
            raise UserError("params must be a JSON object")
        result = yield JobStep(self.kind, params, self.kind)
        self.report({"INFO"}, f"{self.kind}: {', '.join(f'{k}={v}' for k, v in result.files.items())}")


class SMPLPIX_OT_cancel_job(bpy.types.Operator):
    """Cancel this job (it stops at its next step)"""

    bl_idname = "smplpix.cancel_job"
    bl_label = "Cancel Job"
    bl_options = {"REGISTER", "INTERNAL"}

    job_id: bpy.props.StringProperty()

    def execute(self, context):
        rec = SESSION.jobs.get(self.job_id)
        if rec is None or rec.finished:
            self.report({"WARNING"}, "That job has already finished")
            return {"CANCELLED"}
        SESSION.cancel(self.job_id)
        return {"FINISHED"}


class SMPLPIX_OT_clear_jobs(bpy.types.Operator):
    """Remove finished jobs from the list"""

    bl_idname = "smplpix.clear_jobs"
    bl_label = "Clear Finished"
    bl_options = {"REGISTER", "INTERNAL"}

    def execute(self, context):
        SESSION.forget_finished()
        if not bpy.app.background:
            sync_jobs_ui()
        return {"FINISHED"}


CLASSES = (SMPLPIX_OT_backend_start, SMPLPIX_OT_backend_stop, SMPLPIX_OT_free_memory, SMPLPIX_OT_run_job,
           SMPLPIX_OT_cancel_job, SMPLPIX_OT_clear_jobs)
