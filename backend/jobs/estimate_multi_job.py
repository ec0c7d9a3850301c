"""Server job kind ``estimate_multi`` (contract: blender_addon/core/jobs/multi.py): every person of a video, or
one body per person fitted to several calibrated views. Writes ``<job_dir>/people/`` (person_00.npz, ... +
people.json) and returns ``{"index": people.json}``."""

from __future__ import annotations

from pathlib import Path

from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from blender_addon.core.jobs.multi import EstimateMultiParams


def estimate_multi_job(params: dict, ctx: JobContext) -> dict:
    from backend.fitting.estimate import EstimateRequest
    from backend.fitting.fit import FitCancelled
    from backend.fitting.multiview_estimate import MultiViewRequest, estimate_multiview
    from backend.fitting.people_estimate import PEOPLE_INDEX, estimate_people, parse_people
    from backend.perception.detect import DetectionCancelled
    from backend.perception.frames import FrameRange
    from backend.perception.people import PeopleSettings

    P = parse_params(EstimateMultiParams, params)
    videos = tuple(Path(v).expanduser() for v in P.videos)
    for v in videos:
        if not v.exists():
            raise JobError(f"estimate_multi: {v} does not exist; choose a video file")
    out = ctx.job_dir / "people"
    cache = Path(P.cache_dir) if P.cache_dir else ctx.job_dir.parent / "detections_cache"
    base = EstimateRequest(input=videos[0], output=out, model=P.model,
                           model_dir=Path(P.model_dir) if P.model_dir else None,
                           frames=FrameRange(P.start, P.end, P.stride), device=ctx.device, cache_dir=cache)
    people = PeopleSettings(min_height_px=P.min_height)
    cancelled = lambda: ctx.cancelled  # noqa: E731
    try:
        count = parse_people(P.people)
        if len(videos) > 1 or P.calibration:
            estimate_multiview(MultiViewRequest(base=base, videos=videos, calibration=Path(P.calibration),
                                                offsets=P.offsets, people=count, people_settings=people,
                                                folder=True), progress=ctx.progress, cancelled=cancelled)
        else:
            estimate_people(base, count, out, people, progress=ctx.progress, cancelled=cancelled)
    except (DetectionCancelled, FitCancelled):
        ctx.check_cancelled()
        raise
    except ValueError as exc:
        raise JobError(f"estimate_multi: {exc}") from exc
    return {"index": out / PEOPLE_INDEX}


register_job(EstimateMultiParams.KIND, estimate_multi_job)
