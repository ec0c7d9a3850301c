"""Server job kinds ``train_avatar`` and ``render_avatar``.

train_avatar params (JSON):
    video: str             video file or image folder (needed unless ``dataset`` is given)
    motion: str            motion .npz with per-frame camera, fitted to the video
    dataset: str | null    an existing dataset folder to train on instead
    size: int              square training resolution (default 128)
    mask_source: str       "auto" | "keypoints" | "mediapipe" | "raster"
    keypoints: str | null  perception cache (keypoints_*.npz or its folder) holding person masks
    model_dir: str | null  SMPL-family model folder
    resume_from: str|null  a run folder whose checkpoint.pt to continue
    export_onnx: bool      also write avatar.onnx (default true)
    any TrainConfig field (steps, batch, lr, base, depth, ...)
Result files: checkpoint, eval_json, eval_png, onnx (if exported), dataset.

render_avatar params: checkpoint (str), motion (str), onnx (str|null), betas (list|null), camera
("auto"|"track"|"motion"), frame ("full": source-sized overlays, default | "crop"), frame_scale (float, 1 = the
source size), background ([r, g, b] in [0, 1]), alpha ("predicted"|"raster"), model_dir. Result files: ``frames``
(the folder of RGBA PNGs ``%05d.png`` and ``frames.json``: frame size, crop boxes).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from backend.avatar.config import TrainConfig
from backend.jobs.registry import JobContext, JobError, register_job


def _path(params: dict, key: str, kind: str, required: bool = True) -> Path | None:
    value = params.get(key)
    if not value:
        if required:
            raise JobError(f"{kind}: parameter {key!r} is required")
        return None
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise JobError(f"{kind}: {key} {path} does not exist; choose an existing file")
    return path


def train_avatar(params: dict, ctx: JobContext) -> dict:
    from backend.avatar.dataset import build_dataset
    from backend.avatar.evaluate import evaluate
    from backend.avatar.infer import export_onnx
    from backend.avatar.train import train

    kind = "train_avatar"
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    try:
        cfg = TrainConfig(**{k: type(fields[k].default)(v) for k, v in params.items() if k in fields})
    except (TypeError, ValueError) as exc:
        raise JobError(f"{kind}: bad training parameter ({exc})") from exc
    if cfg.steps < 1 or cfg.batch < 1:
        raise JobError(f"{kind}: steps and batch must be positive")
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
            size = int(params.get("size", 128))
            if size % 16 or size < 32:
                raise JobError(f"{kind}: size {size} must be a multiple of 16, at least 32")
            try:
                build_dataset(video, motion, dataset, size=size, model_dir=params.get("model_dir"),
                              mask_source=params.get("mask_source", "auto"), keypoints=params.get("keypoints"),
                              progress=lambda d, t: ctx.progress("dataset", d, t, f"rasterized {d}/{t} frames"))
            except (ValueError, FileNotFoundError) as exc:
                raise JobError(f"{kind}: {exc}") from exc
    try:
        ckpt = train(dataset, run, cfg, device=ctx.device, resume=True,
                     progress=lambda s, d, t, m: ctx.progress(s, d, t, m), check_cancelled=ctx.check_cancelled)
        ctx.progress("evaluate", 0, 1, "held-out evaluation")
        report = evaluate(ckpt, dataset, run, "test", device=ctx.device)
    except (ValueError, FileNotFoundError) as exc:
        raise JobError(f"{kind}: {exc}") from exc
    files = {"checkpoint": str(ckpt), "eval_json": report["json"], "eval_png": report["png"],
             "dataset": str(dataset)}
    if params.get("export_onnx", True):
        files["onnx"] = str(export_onnx(ckpt, run / "avatar.onnx"))
    return files


def render_avatar(params: dict, ctx: JobContext) -> dict:
    import numpy as np

    from backend.avatar.infer import render_motion

    kind = "render_avatar"
    ckpt = _path(params, "checkpoint", kind)
    motion = _path(params, "motion", kind)
    onnx = _path(params, "onnx", kind, required=False)
    betas = params.get("betas")
    camera = params.get("camera", "auto")
    if camera not in ("auto", "track", "motion"):
        raise JobError(f"{kind}: camera {camera!r}; use 'auto', 'track' or 'motion'")
    frame = params.get("frame", "full")
    if frame not in ("full", "crop"):
        raise JobError(f"{kind}: frame {frame!r}; use 'full' or 'crop'")
    bg = params.get("background", [0.0, 0.0, 0.0])
    if not (isinstance(bg, list) and len(bg) == 3):
        raise JobError(f"{kind}: background must be [r, g, b] in [0, 1]")
    out = Path(ctx.job_dir) / "frames"
    try:
        render_motion(ckpt, motion, out, onnx=onnx, betas=None if betas is None else np.asarray(betas, np.float32),
                      camera=camera, background=tuple(float(v) for v in bg), alpha=params.get("alpha", "predicted"),
                      device=ctx.device, model_dir=params.get("model_dir"), frame=frame,
                      frame_scale=float(params.get("frame_scale", 1.0)), progress=lambda s, d, t, m: ctx.progress(s, d, t, m))
    except (ValueError, FileNotFoundError) as exc:
        raise JobError(f"{kind}: {exc}") from exc
    return {"frames": str(out)}


register_job("train_avatar", train_avatar)
register_job("render_avatar", render_avatar)
