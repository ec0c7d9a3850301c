"""End to end: video or image folder -> detections (cached) -> sequence fit -> Motion file."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.fitting.expression import arkit_from_face_mesh
from backend.fitting.face_params import apply_face_fit
from backend.fitting.fit import FitResult, FitSettings, fit_keypoints
from backend.fitting.metrics import fit_metrics
from backend.fitting.streaming import (DetectionStream, StreamFallback, StreamSettings, fit_streamed, should_stream,
                                       source_info)
from backend.perception.camera_motion import CameraMotion, CameraTracker, reference_focal, stabilize_keypoints
from backend.perception.camera_motion import track_camera
from backend.perception.detect import DetectSettings, cache_key, detect_keypoints, person_fraction_error
from backend.perception.frames import FrameRange
from backend.perception.keypoints import Keypoints
from backend.perception.postprocess import fix_left_right_swaps
from backend.runtime import Progress, detections_cache
from blender_addon.core.jobs.estimate import EstimateParams
from blender_addon.core.motion import Camera, Motion

log = logging.getLogger(__name__)
MIN_PERSON_FRACTION = 0.1  # of the selected frames that must show the person


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
    camera: str = "auto"  # "auto": track a moving camera from the background (static footage stays static); "static"
    stream: bool = True  # fit windows while detection runs (see backend/fitting/streaming.py)
    stream_settings: StreamSettings = StreamSettings()
    subject: str = "body"  # "face": a face close-up (Anny: backend/fitting/face_only.py)


def estimate_request(p: EstimateParams, output: Path, device: str = "cpu",
                     keypoints_out: Path | None = None) -> EstimateRequest:
    """The request of one estimate from its job contract (shared by the server job and the CLI)."""
    fit = FitSettings(focal=p.focal, fit_hands=p.hands, iters_relax=60 if p.follow_fast_motion else 0)
    if p.iterations is not None:
        fit = dataclasses.replace(fit, iters_body=p.iterations)
    return EstimateRequest(input=Path(p.input).expanduser(), output=Path(output), model=p.model,
                           model_dir=Path(p.model_dir) if p.model_dir else None,
                           frames=FrameRange(p.start, p.end, p.stride), device=device,
                           cache_dir=detections_cache(p.cache_dir), fit=fit, keypoints_out=keypoints_out,
                           camera=p.camera, subject=p.subject)


@dataclasses.dataclass(frozen=True)
class EstimateResult:
    motion_path: Path
    keypoints_path: Path | None
    metrics: dict
    timings: dict  # seconds: detect (until detection ended), fit (after detection), total; windows: streamed ones


def motion_camera(fit: FitResult, image_size: tuple[int, int], num_frames: int,
                  camera: CameraMotion | None = None) -> Camera:
    """The motion's per-frame camera: the fitted reference camera, turned and zoomed by ``camera`` per frame (a
    rotation about the camera centre: R_i = rotation_i R_0, t_i = rotation_i t_0, focal_i)."""
    if camera is None or camera.static:
        return Camera(K=np.repeat(fit.K[None], num_frames, 0), R=np.repeat(fit.cam_R[None], num_frames, 0),
                      t=np.repeat(fit.cam_t[None], num_frames, 0), image_size=tuple(int(v) for v in image_size))
    K = np.repeat(fit.K[None], num_frames, 0)
    K[:, 0, 0] = K[:, 1, 1] = camera.focal
    return Camera(K=K, R=camera.rotation @ fit.cam_R, t=camera.rotation @ fit.cam_t,
                  image_size=tuple(int(v) for v in image_size))


def to_motion(fit: FitResult, kp: Keypoints, model, source: str = "", metrics: dict | None = None,
              expression: np.ndarray | None = None, camera_motion: CameraMotion | None = None) -> Motion:
    """Motion (model axes) with its camera per frame (static, or ``camera_motion``'s); ``expression`` (F, E): fitted
    coefficients (SMPL-X / FLAME, see backend/fitting/face_params.py)."""
    F = kp.num_frames
    stride = int(np.median(np.diff(kp.frame_indices))) if F > 1 else 1
    camera = motion_camera(fit, kp.image_size, F, camera_motion)
    meta = {"floor_height": float(fit.floor), "metrics": metrics or {},
            "shape_kind": "anny phenotype offsets" if model.name == "anny" else "betas",
            **(camera_motion.metadata() if camera_motion is not None else {"camera_motion": "static"})}
    names = tuple(getattr(model, "expr_names", ()))
    if expression is not None:
        meta["expression"] = "expression coefficients and jaw fitted to face-mesh landmarks (landmark embedding)"
    elif "jawOpen" in names and (kp.face[:, 0, 2] > 0).any():  # ARKit facial actions (Anny)
        expression = arkit_from_face_mesh(kp.face, names)
        meta["expression"] = "ARKit facial actions from face-mesh landmarks (jaw, blinks, smiles)"
    return Motion(model=model.name, fps=float(kp.fps) / max(1, stride), joint_names=tuple(model.joint_names),
                  rotvec=fit.rotvec, transl=fit.transl, betas=np.asarray(fit.shape, np.float64), expression=expression,
                  confidence=fit.confidence, camera=camera, foot_contact=fit.contact, up_axis=model.up_axis,
                  source_video=source, metadata=meta, frame_start=int(kp.frame_indices[0]) if F else 0,
                  frame_stride=stride, source_fps=float(kp.fps))


def estimate(req: EstimateRequest, progress: Progress | None = None,
             cancelled: Callable[[], bool] | None = None) -> EstimateResult:
    """Run detection (or re-use the cache), fit, and write ``req.output``. Unless the detections come from the
    cache (or ``req.stream`` is off, or no CPU core is spare), the fit of windows of frames overlaps detection
    (backend/fitting/streaming.py); a moving camera or sparse detections fall back to the whole-sequence fit."""
    from backend.bodymodels import load_body_model

    report = _serialised(progress or (lambda stage, done, total, msg: None))
    t0 = time.perf_counter()
    detect = req.detect
    if (req.model in ("mano", "flame") or req.subject == "face") and detect.mode == "holistic":  # close-ups
        detect = dataclasses.replace(detect, mode="hands" if req.model == "mano" else "face")
    tracker = CameraTracker() if req.camera == "auto" and detect.mode == "holistic" else None
    fit_settings = dataclasses.replace(req.fit, device=req.device)
    detect_progress = lambda d, n: report("detect", d, n, f"frame {d} of {n}")  # noqa: E731
    hook = tracker.hook if tracker is not None else None
    stream = None
    info = source_info(req.input)  # a missing or unreadable input fails here, with its one-line error
    if (req.stream and detect.mode == "holistic" and not _detections_cached(req, detect)
            and should_stream(req.stream_settings)):
        stream = DetectionStream(req.input, req.frames, detect, req.cache_dir, detect_progress, cancelled,
                                 MIN_PERSON_FRACTION, hook).start()  # detection starts while the model loads
    fit = None
    try:
        report("load model", 0, 1, req.model)
        model = load_body_model(req.model, model_dir=req.model_dir, device=req.device)  # fails fast: missing files
        if stream is not None:
            fit = _fit_while_detecting(req, stream, model, fit_settings, info, tracker, report, cancelled)
            kp = stream.result()
        else:
            kp = detect_keypoints(req.input, req.frames, detect, req.cache_dir, progress=detect_progress,
                                  cancelled=cancelled, min_found=MIN_PERSON_FRACTION, frame_hook=hook)
    finally:
        if stream is not None:
            stream.stop()
    t_detect = (stream.finished_at if stream is not None else time.perf_counter()) - t0
    if kp.found.sum() < MIN_PERSON_FRACTION * kp.num_frames or not kp.found.any():  # also for cached detections
        raise person_fraction_error(req.input, int(kp.found.sum()), kp.num_frames, MIN_PERSON_FRACTION)
    if req.subject == "face" and req.model == "anny":
        return _anny_face(req, kp, model, t0, t_detect, report)
    camera = _camera_motion(req, detect, kp, tracker, report)
    kp, swapped = fix_left_right_swaps(kp)
    if swapped.any():
        log.info("repaired left/right swaps in %d frames", int(swapped.sum()))
    if req.keypoints_out is not None:
        kp.save(req.keypoints_out)
    if camera is not None and not camera.static:
        kp = stabilize_keypoints(kp, camera)  # the fit sees the first frame's camera; the motion gets the per-frame one
        fit = None  # the streamed windows assumed a static camera
    t1 = time.perf_counter()
    if fit is None:
        fit = fit_keypoints(kp, model, fit_settings, cancelled=cancelled,
                            progress=lambda stage, d, n: report(stage, d, n, f"iteration {d} of {n}"))
    fit, expression, face = apply_face_fit(fit, kp, model, progress=lambda stage, d, n: report(
        stage, d, n, f"iteration {d} of {n}"), cancelled=cancelled)
    t_fit = time.perf_counter() - t1
    metrics = fit_metrics(fit.body_uv, fit.body_index, fit.detections, kp.found)
    metrics["part"] = fit.part
    if face is not None and np.isfinite(face.reproj_px).any():
        metrics["face_landmarks_median_px"] = float(np.nanmedian(face.reproj_px))
    motion = to_motion(fit, kp, model, str(req.input), metrics, expression, camera)
    motion.save(req.output)
    total = time.perf_counter() - t0
    log.info("wrote %s (%d frames): reprojection %.1f px, jitter ratio %.1f, %.1f s", req.output, kp.num_frames,
             metrics["reprojection_median_px"], metrics["jitter_ratio"], total)
    return EstimateResult(req.output, req.keypoints_out, metrics,
                          {"detect": t_detect, "fit": t_fit, "total": total, "streamed": stream is not None,
                           "windows": int(fit.timings.get("windows", 0))})  # 0: the whole-sequence fit


def _anny_face(req: EstimateRequest, kp: Keypoints, model, t0: float, t_detect: float,
               report: Progress) -> EstimateResult:
    """The face-only estimate with Anny (head pose + facial actions, backend/fitting/face_only.py), written."""
    from backend.fitting.face_only import estimate_anny_face

    report("fit face", 0, 1, "head pose and facial actions")
    if req.keypoints_out is not None:
        kp.save(req.keypoints_out)
    motion = estimate_anny_face(kp, model, req.fit.focal, str(req.input))
    motion.save(req.output)
    report("fit face", 1, 1, "done")
    total = time.perf_counter() - t0
    return EstimateResult(req.output, req.keypoints_out, dict(motion.metadata["metrics"]),
                          {"detect": t_detect, "fit": total - t_detect, "total": total, "streamed": False,
                           "windows": 0})


def _serialised(report: Progress) -> Progress:
    """``report`` made safe to call from the detection and the fitting thread at once."""
    lock = threading.Lock()

    def call(stage: str, done: int, total: int, message: str) -> None:
        with lock:
            report(stage, done, total, message)

    return call


def _detections_cached(req: EstimateRequest, detect: DetectSettings) -> bool:
    """True when the detections cache already holds this request's detections (nothing to overlap the fit with)."""
    if req.cache_dir is None:
        return False
    return (Path(req.cache_dir) / f"keypoints_{cache_key(Path(req.input), req.frames, detect)}.npz").is_file()


def _fit_while_detecting(req: EstimateRequest, stream: DetectionStream, model, settings: FitSettings, info,
                         tracker: CameraTracker | None, report: Progress, cancelled) -> FitResult | None:
    """The streamed fit of the static-camera windows, or None when it must fall back to the whole sequence."""
    try:
        return fit_streamed(stream, model, settings, info, req.stream_settings,
                            progress=lambda stage, d, n, k: report(stage, d, n, f"window {k + 1}: iteration {d} of {n}"),
                            cancelled=cancelled, moving=lambda: tracker is not None and tracker.moving)
    except StreamFallback as exc:
        log.info("fitting the whole sequence after detection (%s)", exc)
        return None


def _camera_motion(req: EstimateRequest, detect: DetectSettings, kp: Keypoints, tracker: CameraTracker | None,
                   report: Progress) -> CameraMotion | None:
    """The camera per frame: from the tracker fed during detection, else (detections from the cache) from the
    camera cache or one more pass over the video. None when the request asks for a static camera."""
    if tracker is None:
        return None
    focal = reference_focal(kp.image_size, req.fit.focal)
    cached = None
    if req.cache_dir is not None:
        cached = Path(req.cache_dir) / f"camera_{cache_key(Path(req.input), req.frames, detect)}_{focal:.1f}.npz"
    if tracker.num_frames == kp.num_frames:
        camera = tracker.finish(focal)
    elif cached is not None and cached.is_file():
        camera = CameraMotion.load(cached)
    else:
        report("camera", 0, 1, "tracking the camera")
        camera = track_camera(req.input, kp, req.frames, focal)
    if cached is not None and not cached.is_file():
        camera.save(cached)
    report("camera", 1, 1, camera.warning or ("static camera" if camera.static else
                                              f"moving camera ({camera.metadata()['camera_max_rotation_deg']:.1f} deg)"))
    return camera
