"""Server job kinds ``train_avatar`` (:class:`~blender_addon.core.jobs.avatar.TrainAvatarParams`) and
``render_avatar`` (:class:`~blender_addon.core.jobs.avatar.RenderAvatarParams`); their result roles are the
``ROLE_*`` constants of :mod:`blender_addon.core.jobs.avatar`. ``render_avatar`` writes the folder of RGBA PNGs
``%05d.png`` and ``frames.json`` (frame size, crop boxes). A face-only motion (FLAME, or a face fit: see
``face_dataset.is_face_motion``) trains a face avatar, and a face checkpoint renders through ``face_render``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from blender_addon.core.motion import Motion
from blender_addon.core.jobs.avatar import (ROLE_CHECKPOINT, ROLE_DATASET, ROLE_EVAL_JSON, ROLE_EVAL_PNG, ROLE_FRAMES,
                                            ROLE_ONNX, RenderAvatarParams, TrainAvatarParams)


def _path(params, key: str, kind: str, required: bool = True) -> Path | None:
    value = getattr(params, key)
    if not value:
        if required:
            raise JobError(f"{kind}: parameter {key!r} is required")
        return None
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise JobError(f"{kind}: {key} {path} does not exist; choose an existing file")
    return path


def train_avatar(params: TrainAvatarParams, ctx: JobContext) -> dict:
    from backend.avatar.dataset import build_dataset
    from backend.avatar.evaluate import evaluate
    from backend.avatar.face_dataset import build_face_dataset, is_face_motion
    from backend.avatar.infer import export_onnx
    from backend.avatar.train import train

    params = parse_params(TrainAvatarParams, params)
    kind = params.KIND
    cfg = params.train_config()
    run = Path(ctx.job_dir)
    resume = _path(params, "resume_from", kind, required=False)
    if resume is not None and (resume / "checkpoint.pt").is_file() and resume != run:
        shutil.copy2(resume / "checkpoint.pt", run / "checkpoint.pt")
    dataset = _path(params, "dataset", kind, required=False)
    if dataset is None:
        dataset = run / "dataset"
        if not (dataset / "data.npz").is_file():
            video = _path(params, "video", kind)
            motion = _path(params, "motion", kind)
            report = lambda d, t: ctx.progress("dataset", d, t, f"rasterized {d}/{t} frames")  # noqa: E731
            try:
                if is_face_motion(Motion.load(motion)):  # a face-only estimate: the face avatar (face_dataset.py)
                    build_face_dataset(video, motion, dataset, size=params.size, model_dir=params.model_dir,
                                       mask_source=params.mask_source, progress=report)
                else:
                    build_dataset(video, motion, dataset, size=params.size, model_dir=params.model_dir,
                                  mask_source=params.mask_source, keypoints=params.keypoints, progress=report)
            except (ValueError, FileNotFoundError) as exc:
                raise JobError(f"{kind}: {exc}") from exc
    try:
        ckpt = train(dataset, run, cfg, device=ctx.device, resume=True, progress=ctx.progress,
                     check_cancelled=ctx.token.check)
        ctx.progress("evaluate", 0, 1, "held-out evaluation")
        report = evaluate(ckpt, dataset, run, "test", device=ctx.device)
    except (ValueError, FileNotFoundError) as exc:  # an unreadable checkpoint, too few frames, an empty mask
        raise JobError(f"{kind}: {exc}") from exc
    files = {ROLE_CHECKPOINT: str(ckpt), ROLE_EVAL_JSON: report["json"], ROLE_EVAL_PNG: report["png"],
             ROLE_DATASET: str(dataset)}
    if params.export_onnx:
        files[ROLE_ONNX] = str(export_onnx(ckpt, run / "avatar.onnx"))
    return files


def render_avatar(params: RenderAvatarParams, ctx: JobContext) -> dict:
    import numpy as np

    from backend.avatar.face_render import render_face_motion, subject_of
    from backend.avatar.infer import render_motion
    from backend.avatar.train import read_checkpoint

    params = parse_params(RenderAvatarParams, params)
    kind = params.KIND
    ckpt = _path(params, "checkpoint", kind)
    motion = _path(params, "motion", kind)
    onnx = _path(params, "onnx", kind, required=False)
    betas = None if params.betas is None else np.asarray(params.betas, np.float32)
    out = Path(ctx.job_dir) / "frames"
    try:
        if subject_of(read_checkpoint(ckpt)) == "face":  # expression-driven, through the motion's camera
            render_face_motion(ckpt, motion, out, background=params.background, device=ctx.device,
                               model_dir=params.model_dir, frame=params.frame, frame_scale=params.frame_scale,
                               progress=ctx.progress)
            return {ROLE_FRAMES: str(out)}
        render_motion(ckpt, motion, out, onnx=onnx, betas=betas, camera=params.camera, background=params.background,
                      alpha=params.alpha, device=ctx.device, model_dir=params.model_dir, frame=params.frame,
                      frame_scale=params.frame_scale, progress=ctx.progress)
    except (ValueError, FileNotFoundError) as exc:
        raise JobError(f"{kind}: {exc}") from exc
    return {ROLE_FRAMES: str(out)}


register_job(TrainAvatarParams.KIND, train_avatar)
register_job(RenderAvatarParams.KIND, render_avatar)
