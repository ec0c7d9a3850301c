"""Whole-sequence fit of a body model to per-frame detections (all frames batched, Adam in torch).

World axes are the model's own; the camera is static, looks at the person from the front with the model's up
axis pointing up in the image (OpenCV camera: x right, y down, z forward), focal length from the image size
unless given. Stages: (1) global orientation + translation, (2) everything (body pose, shared shape, hands),
(3) foot contact: no sliding during detected contacts, nothing below the floor.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from backend.bodymodels.base import BodyModel
from backend.fitting import contact as contact_mod
from backend.fitting.losses import FitParams, FitSchedule, landmarks, project, total_loss
from backend.fitting.problem import FitProblem, body_part, lowpass, prepare_problem
from backend.fitting.skeleton import matrix_to_rotvec, rotvec_to_matrix
from backend.perception.keypoints import Keypoints
from backend.runtime import Cancelled, torch_threads

__all__ = ["FitCancelled", "FitResult", "FitSettings", "WarmStart", "body_part", "fit_keypoints"]

log = logging.getLogger(__name__)


class FitCancelled(Cancelled):
    """The fit was cancelled between two optimiser steps (the one cancellation convention: runtime.Cancelled)."""


@dataclasses.dataclass(frozen=True)
class FitSettings:
    focal: float | None = None  # pixels; None: 0.9 * the longer image side
    iters_global: int = 40
    iters_body: int = 160
    iters_contact: int = 40
    lr: float = 0.04
    # Adam's first steps move every parameter by about the learning rate whatever its gradient: at full rate they
    # throw the limbs out of their (already close) initial pose. The joint rotations take a lower rate, and each
    # stage ramps its rate up.
    lr_pose: float = 0.25  # learning rate of the joint rotations relative to ``lr``
    lr_shape: float = 0.25  # learning rate of the shape coefficients relative to ``lr``
    warmup: int = 20  # iterations over which each stage's learning rate ramps up from zero (then cosine decay)
    fit_shape: bool = True
    # Shape coefficients held at the model's own value. Anny's "height" also sets the body's proportions (short
    # bodies have shorter legs relative to the torso), so it is fitted (the shape prior keeps the size near the
    # model's own): on the real multi-view benchmark PA-MPJPE 82.2 -> 78.7 mm; synthetic unchanged (35.1 mm).
    fixed_shape: tuple[str, ...] = ("age",)
    fit_hands: bool = True
    w_2d: float = 1.0  # robust reprojection, residuals in % of the person's height
    gmof_sigma: float = 20.0  # % of the person's height
    w_3d: float = 50.0  # MediaPipe world bone directions (1 - cos)
    w_prior: float = 2.0
    w_hinge: float = 20.0
    w_shape: float = 5.0
    w_accel: float = 0.4  # landmark acceleration in g
    visibility_floor: float = 0.3  # weight of a body landmark MediaPipe marks invisible (relative to visible)
    # Refinement with smoothing relaxed on frames the fit misses (fast motions such as a landing after a flip);
    # off by default: it follows those motions better but raises the jitter of the whole sequence.
    iters_relax: int = 0
    relax_threshold: float = 6.0  # median landmark error (% of person height) that marks a missed frame
    relax_weight: float = 0.02  # temporal weight kept on those frames
    temporal_start: float = 0.05  # temporal weights start at this fraction in each stage ...
    temporal_ramp: float = 0.5  # ... and reach full weight after this fraction of the stage's iterations
    centre_accel: float = 1.0  # relative weight of the body centre's acceleration
    accel_sigma: float = 1000.0  # g; accelerations beyond this are penalised less than quadratically
    w_rot_vel: float = 20.0  # joint rotation change per frame, rad
    w_slide: float = 2000.0  # foot displacement during contact, m
    w_floor: float = 500.0  # foot below the floor, m
    dir_sigma: float = 0.0  # robust scale of the direction term (1 - cos); 0: plain
    hand_3d: float = 0.3  # weight of finger directions from the hand landmarks' relative depth (vs the body's)
    smooth_frames: float = 1.0  # Gaussian low-pass (sigma, frames) built into the per-frame parameters; 0: none
    # MediaPipe body landmarks fitted at the model's regressed landmark positions (their definition) rather than at
    # its joint centres, where the model ships a regressor (Anny); () for joint centres everywhere. Nose, eyes and
    # the 12 major joints (shoulders .. ankles): on the real multi-view benchmark PA-MPJPE 84.2 -> 82 mm, synthetic
    # body PA-MPJPE 38.8 -> 34.9 mm (scripts/eval/).
    regressed_landmarks: tuple[int, ...] = (0, 2, 5, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
    device: str = "cpu"


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    """Per-frame fit (F frames, J joints) in model axes, with the static camera."""

    rotvec: np.ndarray  # (F, J, 3) local rotations, radians
    transl: np.ndarray  # (F, 3) metres
    shape: np.ndarray  # (S,)
    K: np.ndarray  # (3, 3) pixels
    cam_R: np.ndarray  # (3, 3) world -> camera (OpenCV)
    cam_t: np.ndarray  # (3,) metres
    contact: np.ndarray  # (F, 2) bool, left/right foot
    confidence: np.ndarray  # (F,) in [0, 1]
    reproj_px: np.ndarray  # (F,) median body landmark reprojection error, pixels (nan when not detected)
    body_uv: np.ndarray  # (F, L, 2) projected model body landmarks, pixels
    body_index: np.ndarray  # (L,) MediaPipe pose indices of body_uv
    floor: float  # floor height along the up axis, metres (0 after alignment)
    timings: dict
    part: str = "body"  # "body"; "hand" / "face" for MANO / FLAME (body_uv then holds those landmarks)
    detections: np.ndarray | None = None  # (F, 33 | 21 | 5, 3) the detections body_index refers to


@dataclasses.dataclass(frozen=True, eq=False)
class WarmStart:
    """What a fit of a window of frames takes over from the fit of the window before it (streamed fitting, see
    backend/fitting/streaming.py): the first ``rotvec.shape[0]`` frames start at these values, the shape and the
    floor are held fixed."""

    rotvec: np.ndarray  # (n, J, 3) local rotations of the window's first n frames, radians (root: global)
    transl: np.ndarray  # (n, 3) metres, before the floor shift (FitResult.transl + up * floor height)
    shape: np.ndarray  # (S,) held fixed
    floor_h: float | None = None  # floor height along the up axis, metres, before the shift; None: from this window


def fit_keypoints(kp: Keypoints, model: BodyModel, settings: FitSettings = FitSettings(),
                  progress: Callable[[str, int, int], None] | None = None,
                  cancelled: Callable[[], bool] | None = None, warm: WarmStart | None = None) -> FitResult:
    """Fit ``model`` to the detections ``kp`` (frames in kp order). Frames without a detection are filled in by
    the temporal terms. ``warm``: start the first frames from a previous fit, with its shape (and floor) fixed."""
    t_start = time.perf_counter()
    # the CPU is shared with detection; small ops are faster single-threaded
    with torch_threads(1 if settings.device == "cpu" else torch.get_num_threads()):
        return _fit(kp, model, settings, progress, cancelled, t_start, warm)


def _fit(kp, model, settings, progress, cancelled, t_start, warm=None) -> FitResult:
    """The fit's recipe: prepare the problem, global stage, full stage, optional relaxation, contact stage."""
    s = settings
    pb = prepare_problem(kp, model, s)
    prm = _initial_params(pb, model, s, warm)
    st = FitSchedule(sigma=s.gmof_sigma, temporal_w=torch.ones(pb.F, device=pb.dev))
    stage = functools.partial(_run_stage, pb, prm, st, s, progress, cancelled)
    t0 = time.perf_counter()
    stage(1, [prm.d_glob, prm.transl], s.iters_global, s.lr * 1.5, "fit global", (50.0, 25.0))
    params = [prm.d_glob, prm.transl, prm.pose] + ([prm.shape] if prm.shape is not None and warm is None else [])
    stage(2, params, s.iters_body, s.lr, "fit body", (40.0, s.gmof_sigma))
    if s.iters_relax > 0 and pb.F > 2:
        _relax_missed(pb, prm, st, s, lambda: stage(2, params, s.iters_relax, s.lr * 0.5, "fit relax",
                                                      (s.gmof_sigma, s.gmof_sigma)))
    contact = _detect_contacts(pb, prm, st)
    if warm is not None and warm.floor_h is not None:
        st.floor_h = warm.floor_h
    if st.foot_sel is not None:
        stage(3, params, s.iters_contact, s.lr * 0.5, "fit contact", (s.gmof_sigma, s.gmof_sigma))
    t_fit = time.perf_counter() - t0
    return _result(pb, prm, st, contact, {"fit_s": t_fit, "total_s": time.perf_counter() - t_start})


def _initial_params(pb: FitProblem, model: BodyModel, s: FitSettings, warm: WarmStart | None = None) -> FitParams:
    """The optimised tensors at their initial values (the shape at zero, linearised there; or ``warm``'s first
    frames and shape)."""
    tt = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=pb.dev)  # noqa: E731
    d_glob = torch.zeros(pb.F, 3, device=pb.dev)
    transl = tt(pb.tr_init).clone()
    pose = tt(pb.pose_init).clone()
    S = model.num_shape
    shape = torch.zeros(1, S, device=pb.dev) if (s.fit_shape and S) else None
    if warm is not None:
        n = min(pb.F, warm.rotvec.shape[0])
        R = rotvec_to_matrix(tt(warm.rotvec[:n, 0]))
        d_glob[:n] = matrix_to_rotvec(R @ pb.R_init[:n].transpose(1, 2))
        transl[:n] = tt(warm.transl[:n])
        pose[:n] = tt(warm.rotvec[:n, pb.lrig.active_index[1:]])
        if shape is not None:
            shape = tt(warm.shape)[None].clone()
    for t in (d_glob, transl, pose) + ((shape,) if shape is not None and warm is None else ()):
        t.requires_grad_(True)
    if shape is not None:
        pb.lrig.linearise(shape)
    return FitParams(d_glob, transl, pose, shape, lowpass(s.smooth_frames, pb.F, pb.dev))


def _run_stage(pb: FitProblem, prm: FitParams, st: FitSchedule, s: FitSettings, progress, cancelled, stage: int,
               params: list, iters: int, lr: float, name: str, sigmas: tuple[float, float]) -> None:
    """Adam on ``params`` for ``iters`` iterations (linear warm-up, cosine decay) on the objective of ``stage``,
    annealing the robust scale from sigmas[0] to sigmas[1] and ramping the temporal terms in."""
    if iters <= 0:
        return
    shape, pose = prm.shape, prm.pose
    groups = [{"params": [p for p in params if p is not shape and p is not pose], "lr": lr}]
    if any(p is pose for p in params):
        groups.append({"params": [pose], "lr": lr * s.lr_pose})
    if shape is not None and any(p is shape for p in params):
        groups.append({"params": [shape], "lr": lr * s.lr_shape})
    opt = torch.optim.Adam(groups)
    warm = max(0, min(s.warmup, iters // 2))
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine decay to zero
        opt, lambda k: (k + 1) / (warm + 1) if k < warm else
        0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, iters - warm))))
    loss = torch.zeros(())
    for it in range(iters):
        if cancelled is not None and cancelled():
            raise FitCancelled("fit cancelled")
        # Anneal the robust scale: far-off landmarks (arms from the rest pose) must pull first.
        st.sigma = sigmas[0] * (sigmas[1] / sigmas[0]) ** (it / max(1, iters - 1))
        # Temporal terms grow in over the first part of a stage: frames settle on their own data first, so a
        # fast change (a landing after a tuck) is not dragged into its neighbours' pose.
        st.ramp = min(1.0, s.temporal_start + (1 - s.temporal_start) * it / max(1.0, s.temporal_ramp * iters))
        if shape is not None and it % 40 == 0:
            pb.lrig.linearise(shape)
        opt.zero_grad(set_to_none=True)
        loss = total_loss(pb, prm, st, stage, s)
        loss.backward()
        opt.step()
        sched.step()
        if shape is not None:
            with torch.no_grad():
                shape.mul_(pb.shape_mask).clamp_(-0.45, 0.45)
        if progress is not None and (it % 10 == 0 or it == iters - 1):
            progress(name, it + 1, iters)
    log.debug("%s: loss %.4f", name, float(loss.detach()))


def _relax_missed(pb: FitProblem, prm: FitParams, st: FitSchedule, s: FitSettings, refine) -> None:
    """Frames the fit misses by far although the detector is confident are fast motions the temporal terms
    flattened (a landing): relax smoothing there (and around) and ``refine()``."""
    with torch.no_grad():
        _, uv = project(pb, landmarks(pb, prm))
        res = ((uv - pb.uv_t) * pb.scale).norm(dim=-1)[:, :pb.Lb]  # % of the person's height
        conf = pb.w_t[:, :pb.Lb] > 0.5
        bad = torch.stack([(r[c].median() if c.sum() >= 4 else torch.zeros(())) for r, c in zip(res, conf)])
        missed = (bad > s.relax_threshold).cpu().numpy()
    if missed.any():
        missed = np.convolve(missed.astype(float), np.ones(5), mode="same") > 0
        st.temporal_w = torch.as_tensor(np.where(missed, s.relax_weight, 1.0), dtype=torch.float32, device=pb.dev)
        log.info("relaxing temporal smoothing on %d frames the fit missed", int(missed.sum()))
        refine()


def _detect_contacts(pb: FitProblem, prm: FitParams, st: FitSchedule) -> np.ndarray:
    """(F, 2) foot contacts from the fitted heels and toes; sets the schedule's feet, contacts and floor."""
    foot_pts = [[i for i, n in enumerate(pb.body.names) if n in (f"heel.{side}", f"toe.{side}")]
                for side in ("L", "R")]
    contact = np.zeros((pb.F, 2), bool)
    if pb.part != "body" or not all(len(p) == 2 for p in foot_pts):
        return contact
    with torch.no_grad():
        P = landmarks(pb, prm).cpu().numpy()
    st.foot_sel = torch.as_tensor(np.array(foot_pts), device=pb.dev)
    feet = P[:, np.array(foot_pts)]
    contact = contact_mod.detect_contact(feet, pb.up, pb.fps, view_dir=pb.R0[2])
    st.floor_h = contact_mod.floor_height(feet, contact, pb.up)
    st.contact = torch.as_tensor(contact, device=pb.dev)
    return contact


def _result(pb: FitProblem, prm: FitParams, st: FitSchedule, contact: np.ndarray, timings: dict) -> FitResult:
    """The fitted parameters with the floor moved to height 0, reprojection errors and per-frame confidence."""
    kp, F, low = pb.kp, pb.F, prm.low
    with torch.no_grad():
        _, uv = project(pb, landmarks(pb, prm))
        uv = uv.cpu().numpy()
        root = matrix_to_rotvec(rotvec_to_matrix(low(prm.d_glob)) @ pb.R_init).cpu().numpy()
        pose_out = low(prm.pose).cpu().numpy()
        transl_out = low(prm.transl).cpu().numpy().astype(np.float64)
    rotvec = np.zeros((F, pb.num_joints, 3))
    rotvec[:, pb.lrig.active_index[1:]] = pose_out
    rotvec[:, 0] = root
    # Floor at height 0: move the world, and the camera with it.
    tr = transl_out - pb.up * st.floor_h
    cam_t = pb.R0 @ pb.up * st.floor_h
    body_uv = uv[:, :pb.Lb]
    tgt = pb.uv_t[:, :pb.Lb].cpu().numpy()
    c0 = pb.corrs[0]
    raw = kp.body if c0.source == "body" else pb.sources[c0.source]  # the detector's own confidences
    conf = raw[:, c0.source_index, 2]
    err = np.linalg.norm(body_uv - tgt, axis=-1)
    good = (conf > 0.5) & kp.found[:, None]
    reproj = np.array([np.median(e[g]) if g.any() else np.nan for e, g in zip(err, good)])
    rel = np.nan_to_num(reproj / np.maximum(pb.height, 1.0), nan=1.0)
    confidence = kp.found * conf.mean(1) * np.exp(-rel / 0.05)
    median = float(np.nanmedian(reproj)) if np.isfinite(reproj).any() else float("nan")
    log.info("fit %d frames in %.1f s; median reprojection %.1f px", F, timings["fit_s"], median)
    shape = prm.shape.detach().cpu().numpy()[0] if prm.shape is not None else np.zeros(pb.num_shape)
    return FitResult(rotvec=rotvec, transl=tr, shape=shape, K=pb.K, cam_R=pb.R0, cam_t=cam_t, contact=contact,
                     confidence=confidence.astype(np.float32), reproj_px=reproj, body_uv=body_uv,
                     body_index=c0.source_index, floor=0.0, part=pb.part, detections=raw, timings=timings)
