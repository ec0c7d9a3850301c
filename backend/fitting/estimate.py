"""End to end: video or image folder -> detections (cached) -> sequence fit -> Motion file."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.fitting.expression import arkit_from_face_mesh
from backend.fitting.face_params import apply_face_fit
from backend.fitting.fit import FitResult, FitSettings, fit_keypoints
from backend.fitting.metrics import fit_metrics
from backend.perception.detect import DetectSettings, detect_keypoints, person_fraction_error
from backend.perception.frames import FrameRange
from backend.perception.keypoints import Keypoints
from backend.perception.postprocess import fix_left_right_swaps
from blender_addon.core.motion import Camera, Motion

log = logging.getLogger(__name__)
MIN_PERSON_FRACTION = 0.1  # of the selected frames that must show the person
Progress = Callable[[str, int, int, str], None]


@dataclasses.dataclass(frozen=True)
class EstimateRequest:
    input: Path
    output: Path  # motion .npz
    model: str = "anny"
    model_dir: Path | None = None
    frames: FrameRange = FrameRange()
    device: str = "cpu"
    cache_dir: Path | None = None  # detections cache; None: no caching
    detect: DetectSettings = DetectSettings()
    fit: FitSettings = FitSettings()
    keypoints_out: Path | None = None  # also write the detections here


@dataclasses.dataclass(frozen=True)
class EstimateResult:
    motion_path: Path
    keypoints_path: Path | None
    metrics: dict
    timings: dict  # seconds: detect, fit, total


def to_motion(fit: FitResult, kp: Keypoints, model, source: str = "", metrics: dict | None = None,
              expression: np.ndarray | None = None) -> Motion:
    """Motion (model axes) with the static camera repeated per frame; ``expression`` (F, E): fitted coefficients
    (SMPL-X / FLAME, see backend/fitting/face_params.py)."""
    F = kp.num_frames
    stride = int(np.median(np.diff(kp.frame_indices))) if F > 1 else 1
    camera = Camera(K=np.repeat(fit.K[None], F, 0), R=np.repeat(fit.cam_R[None], F, 0),
                    t=np.repeat(fit.cam_t[None], F, 0), image_size=tuple(int(v) for v in kp.image_size))
    meta = {"frame_start": int(kp.frame_indices[0]) if F else 0, "frame_stride": stride,
            "source_fps": float(kp.fps), "floor_height": float(fit.floor), "metrics": metrics or {},
            "shape_kind": "anny phenotype offsets" if model.name == "anny" else "betas"}
    names = tuple(getattr(model, "expr_names", ()))
    if expression is not None:
        meta["expression"] = "expression coefficients and jaw fitted to face-mesh landmarks (landmark embedding)"
    elif "jawOpen" in names and (kp.face[:, 0, 2] > 0).any():  # ARKit facial actions (Anny)
        expression = arkit_from_face_mesh(kp.face, names)
        meta["expression"] = "ARKit facial actions from face-mesh landmarks (jaw, blinks, smiles)"
    return Motion(model=model.name, fps=float(kp.fps) / max(1, stride), joint_names=tuple(model.joint_names),
                  rotvec=fit.rotvec, transl=fit.transl, betas=np.asarray(fit.shape, np.float64), expression=expression,
                  confidence=fit.confidence, camera=camera, foot_contact=fit.contact, up_axis=model.up_axis,
                  source_video=source, metadata=meta)


def estimate(req: EstimateRequest, progress: Progress | None = None,
             cancelled: Callable[[], bool] | None = None) -> EstimateResult:
    """Run detection (or re-use the cache), fit, and write ``req.output``."""
    from backend.bodymodels import load_body_model

    report = progress or (lambda stage, done, total, msg: None)
    t0 = time.perf_counter()
    report("load model", 0, 1, req.model)
    model = load_body_model(req.model, model_dir=req.model_dir, device=req.device)  # fails fast on missing files
    detect = req.detect
    if req.model in ("mano", "flame") and detect.mode == "holistic":  # close-ups: no body in view
        detect = dataclasses.replace(detect, mode="hands" if req.model == "mano" else "face")
    t_d = time.perf_counter()
    kp = detect_keypoints(req.input, req.frames, detect, req.cache_dir,
                          progress=lambda d, n: report("detect", d, n, f"frame {d} of {n}"), cancelled=cancelled,
                          min_found=MIN_PERSON_FRACTION)
    t_detect = time.perf_counter() - t_d
    if kp.found.sum() < MIN_PERSON_FRACTION * kp.num_frames or not kp.found.any():  # also for cached detections
        raise person_fraction_error(req.input, int(kp.found.sum()), kp.num_frames, MIN_PERSON_FRACTION)
    kp, swapped = fix_left_right_swaps(kp)
    if swapped.any():
        log.info("repaired left/right swaps in %d frames", int(swapped.sum()))
    if req.keypoints_out is not None:
        kp.save(req.keypoints_out)
    t1 = time.perf_counter()
    fit = fit_keypoints(kp, model, dataclasses.replace(req.fit, device=req.device),
                        progress=lambda stage, d, n: report(stage, d, n, f"iteration {d} of {n}"),
                        cancelled=cancelled)
    fit, expression, face = apply_face_fit(fit, kp, model, progress=lambda stage, d, n: report(
        stage, d, n, f"iteration {d} of {n}"), cancelled=cancelled)
    t_fit = time.perf_counter() - t1
    metrics = fit_metrics(fit.body_uv, fit.body_index, fit.detections, kp.found)
    metrics["part"] = fit.part
    if face is not None and np.isfinite(face.reproj_px).any():
        metrics["face_landmarks_median_px"] = float(np.nanmedian(face.reproj_px))
    motion = to_motion(fit, kp, model, str(req.input), metrics, expression)
    motion.save(req.output)
    total = time.perf_counter() - t0
    log.info("wrote %s (%d frames): reprojection %.1f px, jitter ratio %.1f, %.1f s", req.output, kp.num_frames,
             metrics["reprojection_median_px"], metrics["jitter_ratio"], total)
    return EstimateResult(req.output, req.keypoints_out, metrics,
                          {"detect": t_detect, "fit": t_fit, "total": total})
