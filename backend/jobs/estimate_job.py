"""Server job kind ``estimate``: video/images -> motion .npz in the job folder.

params: ``input`` (path, required), ``model`` ("anny"), ``model_dir``, ``start``, ``end``, ``stride``, ``focal``,
``iterations``, ``hands`` (bool), ``follow_fast_motion`` (bool), ``camera`` ("auto" | "static"), ``cache_dir`` (detections cache; default: ``<job_dir>/../detections_cache``).
Returns ``{"motion": motion.npz, "keypoints": keypoints.npz, "metrics": metrics.json}``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from backend.jobs.registry import JobContext, JobError, register_job


def estimate_job(params: dict, ctx: JobContext) -> dict:
    from backend.fitting.estimate import EstimateRequest, estimate
    from backend.fitting.fit import FitCancelled, FitSettings
    from backend.perception.detect import DetectionCancelled
    from backend.perception.frames import FrameRange, FrameSourceError

    if not params.get("input"):
        raise JobError("estimate: params.input (a video file or image folder) is required")
    src = Path(str(params["input"])).expanduser()
    if not src.exists():
        raise JobError(f"estimate: {src} does not exist; choose a video file or a folder of images")
    try:
        frames = FrameRange(int(params.get("start", 0)), None if params.get("end") is None else int(params["end"]),
                            int(params.get("stride", 1)))
        fit = FitSettings(focal=float(params["focal"]) if params.get("focal") else None,
                          fit_hands=bool(params.get("hands", True)),
                          iters_relax=60 if params.get("follow_fast_motion") else 0)
        if params.get("iterations") is not None:
            fit = dataclasses.replace(fit, iters_body=max(0, int(params["iterations"])))
    except (TypeError, ValueError) as exc:
        raise JobError(f"estimate: bad parameter ({exc}); start/end/stride/iterations are integers") from exc
    camera = params.get("camera", "auto")
    if camera not in ("auto", "static"):
        raise JobError(f"estimate: camera must be 'auto' or 'static', got {camera!r}")
    cache = Path(params["cache_dir"]) if params.get("cache_dir") else ctx.job_dir.parent / "detections_cache"
    out = ctx.job_dir / "motion.npz"
    req = EstimateRequest(input=src, output=out, model=str(params.get("model", "anny")),
                          model_dir=Path(params["model_dir"]) if params.get("model_dir") else None, frames=frames,
                          device=ctx.device, cache_dir=cache, fit=fit, keypoints_out=ctx.job_dir / "keypoints.npz",
                          camera=camera)
    try:
        result = estimate(req, progress=ctx.progress, cancelled=lambda: ctx.cancelled)
    except (DetectionCancelled, FitCancelled):
        ctx.check_cancelled()
        raise
    except FrameSourceError as exc:
        raise JobError(str(exc)) from exc
    except ValueError as exc:
        raise JobError(f"estimate: {exc}") from exc
    except Exception as exc:
        if type(exc).__name__ == "ModelFileError":  # a missing SMPL-family file: the message says where to get it
            raise JobError(str(exc)) from exc
        raise
    metrics = ctx.job_dir / "metrics.json"
    metrics.write_text(json.dumps({**result.metrics, "timings_s": result.timings}, indent=2))
    ctx.progress("done", 1, 1, f"reprojection {result.metrics['reprojection_median_px']:.1f} px")
    return {"motion": out, "keypoints": ctx.job_dir / "keypoints.npz", "metrics": metrics}


register_job("estimate", estimate_job)
