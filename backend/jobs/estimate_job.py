"""Server job kind ``estimate`` (:class:`~blender_addon.core.jobs.estimate.EstimateParams`): video/images -> motion
.npz in the job folder, plus the RigSpec of the motion's body (role ``rig``), so the add-on builds the animated body
without a second ``build_body`` round trip.

Returns ``{"motion": motion.npz, "keypoints": keypoints.npz, "metrics": metrics.json, "rig": rig.npz}``. The
detections cache is the one the CLI uses (``$SMPLPIX_CACHE_DIR/detections``) unless ``cache_dir`` says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from backend.runtime import Cancelled, check_writable
from blender_addon.core.jobs.body import BuildBodyParams
from blender_addon.core.jobs.estimate import ROLE_KEYPOINTS, ROLE_METRICS, ROLE_MOTION, ROLE_RIG, EstimateParams


def estimate_job(params: EstimateParams, ctx: JobContext) -> dict:
    from backend.fitting.estimate import estimate, estimate_request
    from backend.fitting.fit import FitCancelled
    from backend.perception.frames import FrameSourceError

    P = parse_params(EstimateParams, params)
    src = Path(P.input).expanduser()
    if not src.exists():
        raise JobError(f"estimate: {src} does not exist; choose a video file or a folder of images")
    req = estimate_request(P, ctx.job_dir / "motion.npz", ctx.device, keypoints_out=ctx.job_dir / "keypoints.npz")
    if req.cache_dir is not None:
        try:
            check_writable(req.cache_dir, "detections cache")
        except OSError as exc:
            raise JobError(f"estimate: {exc} (or set $SMPLPIX_CACHE_DIR for the backend)") from exc
    try:
        result = estimate(req, progress=ctx.progress, cancelled=ctx.token)
    except (Cancelled, FitCancelled):
        ctx.check_cancelled()
        raise
    except FrameSourceError as exc:
        raise JobError(str(exc)) from exc
    except (ValueError, FileNotFoundError) as exc:  # includes ModelFileError: its message says where to get it
        raise JobError(f"estimate: {exc}") from exc
    metrics = ctx.job_dir / "metrics.json"
    metrics.write_text(json.dumps({**result.metrics, "timings_s": result.timings}, indent=2))
    rig = _rig_of(req.output, P, ctx)
    ctx.progress("done", 1, 1, f"reprojection {result.metrics['reprojection_median_px']:.1f} px")
    return {ROLE_MOTION: req.output, ROLE_KEYPOINTS: req.keypoints_out, ROLE_METRICS: metrics, ROLE_RIG: rig}


def _rig_of(motion_path: Path, p: EstimateParams, ctx: JobContext) -> Path:
    """The RigSpec of the motion's model and gender (what the add-on's build_body fallback would ask for)."""
    from backend.jobs.build_body import write_rig
    from blender_addon.core.motion import Motion

    motion = Motion.load(motion_path)
    body = BuildBodyParams(model=motion.model, gender=motion.gender if motion.gender in ("male", "female") else
                           "neutral", model_dir=p.model_dir)
    return write_rig(body, ctx, ctx.job_dir / "rig.npz")


register_job(EstimateParams.KIND, estimate_job)
