"""Server job kinds ``scan_fit`` and ``scan_rig`` (contracts in :mod:`blender_addon.core.jobs.scan`)."""

from __future__ import annotations

from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from blender_addon.core.jobs.scan import ScanFitParams, ScanRigParams


def scan_fit_job(params: dict, ctx: JobContext) -> dict:
    """Fit a body to ``params.scan``; returns {motion, rig[, mesh, detail]} (paths in the job folder)."""
    from backend.scan.pipeline import run_fit

    P = parse_params(ScanFitParams, params)
    with _user_errors():
        out = run_fit(P, ctx.job_dir, lambda stage, done, total: ctx.progress(stage, done, total))
    return {k: str(v) for k, v in out.items()}


def scan_rig_job(params: dict, ctx: JobContext) -> dict:
    """Skin ``params.scan`` to the fit ``params.fit``; returns {glb, weights}."""
    from backend.scan.pipeline import run_rig

    P = parse_params(ScanRigParams, params)
    with _user_errors():
        out = run_rig(P, ctx.job_dir, lambda stage, done, total: ctx.progress(stage, done, total))
    return {k: str(v) for k, v in out.items()}


class _user_errors:
    """Scan, motion, model-file and detail errors become :class:`JobError` (their message says the fix)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        from backend.bodymodels.detail import DetailError
        from backend.scan.reader import ScanError
        from blender_addon.core.model_registry import ModelFileError
        from blender_addon.core.motion import MotionError

        if exc is not None and isinstance(exc, (ScanError, ModelFileError, MotionError, DetailError)):
            raise JobError(str(exc)) from exc
        return False


register_job(ScanFitParams.KIND, scan_fit_job)
register_job(ScanRigParams.KIND, scan_rig_job)
