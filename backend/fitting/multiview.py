"""One body fitted to several calibrated views at once, in the calibration's world frame (metres).

Recipe (all frames batched, Adam in torch, body landmarks only; fingers stay at rest):
1. prepare: undistort every view's detections, triangulate them robustly (initialisation only);
2. initialise: per frame, the rest torso rigidly onto the triangulated torso (global rotation + translation);
3. stage "3d": pose, shape and global motion pulled towards the triangulated landmarks *and* every view's 2D
   detections (gets limbs out of the rest pose);
4. stage "2d": every view's 2D detections alone (robust, normalised camera coordinates scaled to pixels), with the
   pose prior, hinge limits and temporal terms; the triangulation no longer pulls, so comparing the fit with it is
   a check, not a tautology.
The whole shape is free (several views fix the body's size, which one view cannot).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from backend.fitting.correspondences import body_correspondences, pick_surface_points
from backend.fitting.priors import hinge_axes, hinge_penalty, prior_mean, stiffness
from backend.fitting.skeleton import build_landmark_rig, matrix_to_rotvec, rotvec_to_matrix
from backend.perception.calibration import CameraCalib, undistort
from backend.perception.triangulate import triangulate_robust

log = logging.getLogger(__name__)
TORSO = (11, 12, 23, 24)
OFFSET_LANDMARKS = (0, 2, 5, 7, 8, 11, 12, 23, 24)  # head and torso: rigid enough for a body-frame offset


@dataclasses.dataclass(frozen=True)
class MultiViewSettings:
    iters_3d: int = 300
    iters_2d: int = 150
    lr: float = 0.03
    lr_2d: float = 0.2  # stage "2d" refines (shape fixed) at this fraction of ``lr``
    w_3d: float = 1.0  # landmark distance to the triangulation, cm (stage "3d" only)
    w_2d: float = 1.0  # reprojection, pixels / 10
    gmof_px: float = 40.0  # robust scale of the reprojection, pixels
    w_prior: float = 0.3
    w_hinge: float = 20.0
    w_shape: float = 0.5
    w_accel: float = 0.01  # landmark acceleration, g (several views pin fast motions down: little smoothing)
    w_rot_vel: float = 1.0
    w_offset: float = 0.05  # per-landmark body-frame offset (head, torso), cm^2; 0: no offsets
    min_conf: float = 0.3  # detections below this visibility are not used
    device: str = "cpu"


@dataclasses.dataclass(frozen=True, eq=False)
class MultiViewFit:
    """F frames, J joints, L body landmarks (MediaPipe indices ``body_index``)."""

    rotvec: np.ndarray  # (F, J, 3) local rotations, radians (the root's in world axes)
    transl: np.ndarray  # (F, 3) metres, world
    shape: np.ndarray  # (S,)
    landmarks: np.ndarray  # (F, L, 3) fitted body landmarks, world metres
    body_index: np.ndarray  # (L,) MediaPipe pose indices of ``landmarks``
    triangulated: np.ndarray  # (F, 33, 3) robust triangulation of the detections (nan where not valid)
    confidence: np.ndarray  # (F,) in [0, 1]
    timings: dict


def _gmof(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    s2 = sigma * sigma
    return s2 * sq / (s2 + sq)


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def prepare(cams: list[CameraCalib], body: np.ndarray, min_conf: float):
    """body (V, F, 33, 3) pixels + confidence -> normalised undistorted xy (V, F, 33, 2), weights (V, F, 33) (0 for
    detections the robust triangulation rejected), robust triangulation (F, 33, 3) world metres (nan where not
    valid)."""
    xy = np.stack([undistort(cam, body[v, ..., :2]) for v, cam in enumerate(cams)])
    w = np.where(body[..., 2] >= min_conf, body[..., 2], 0.0)
    tri = triangulate_robust(cams, body[..., :2], w > 0)
    # A detection the other views disagree with (a left/right swap, a limb of someone else) is left out.
    rejected = tri.valid[None] & ~np.moveaxis(tri.views, -1, 0)
    return xy, np.where(rejected, 0.0, w), tri.points


def initial_global(rest_lm: np.ndarray, torso_cols: list[int], tri: np.ndarray, torso_idx: list[int],
                   root_rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: rest landmarks (L, 3) torso rigidly onto the triangulated torso -> global rotation (F, 3, 3) and
    root translation (F, 3) (root = rest root + transl). Frames without a triangulated torso copy the nearest."""
    F = tri.shape[0]
    R = np.tile(np.eye(3), (F, 1, 1))
    T = np.zeros((F, 3))
    src = rest_lm[torso_cols]
    ok = np.isfinite(tri[:, torso_idx]).all((1, 2))
    for i in np.nonzero(ok)[0]:
        dst = tri[i, torso_idx]
        R[i] = _kabsch(src - src.mean(0), dst - dst.mean(0))
        T[i] = dst.mean(0) - R[i] @ (src.mean(0) - root_rest) - root_rest
    if not ok.any():
        raise ValueError("the views never agree on the person's torso: check that the calibration belongs to these "
                         "videos and that the videos are synchronized (--offsets).")
    good = np.nonzero(ok)[0]
    near = good[np.abs(np.arange(F)[:, None] - good[None]).argmin(1)]
    return R[near], T[near]


def landmark_rig(model, rig, corr, dev: torch.device):
    """The landmark rig of the body correspondences ``corr`` -> (rig, gather (L,) index into its joints + vertices,
    rest state, rest landmarks (L, 3) metres, rest root position (3,) metres)."""
    active = np.zeros(rig.num_joints, bool)
    active[corr.joint[corr.joint >= 0]] = True
    verts = sorted({int(v) for v in corr.vertex if v >= 0})
    lrig = build_landmark_rig(model, rig, active, np.asarray(verts, np.int64)).to(dev)
    A = lrig.num_active
    pos = {int(j): i for i, j in enumerate(lrig.active_index)}
    gather = torch.as_tensor([pos[int(j)] if j >= 0 else A + verts.index(int(v))
                              for j, v in zip(corr.joint, corr.vertex)], device=dev)
    with torch.no_grad():
        rest = lrig.rest(None)
        eye = torch.eye(3, device=dev).expand(1, A, 3, 3)
        Hj, Vv = lrig(eye, torch.zeros(1, 3, device=dev), rest)
        rest_lm = torch.cat([Hj, Vv], 1)[0, gather].cpu().numpy().astype(np.float64)
        root_rest = rest[0][int(lrig.active_index[0])].cpu().numpy().astype(np.float64)
    return lrig, gather, rest, rest_lm, root_rest


def fit_multiview(cams: list[CameraCalib], body: np.ndarray, model, fps: float,
                  settings: MultiViewSettings = MultiViewSettings(),
                  progress: Callable[[str, int, int], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> MultiViewFit:
    """Fit ``model`` to the body detections ``body`` (V, F, 33, 3) (pixels + confidence, 0 = missing) of V
    calibrated, synchronized views."""
    t0 = time.perf_counter()
    s = settings
    dev = torch.device(s.device)
    V, F = body.shape[:2]
    rig = model.rig_spec()
    corr = body_correspondences(rig, pick_surface_points(rig))
    src = corr.source_index.astype(np.int64)
    xy, w, tri = prepare(cams, body, s.min_conf)

    lrig, gather, rest, rest_lm, root_rest = landmark_rig(model, rig, corr, dev)
    A = lrig.num_active
    pos = {int(j): i for i, j in enumerate(lrig.active_index)}
    tt = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    cols = {int(m): i for i, m in enumerate(src)}
    torso = [t for t in TORSO if t in cols]
    R_init, T_init = initial_global(rest_lm, [cols[t] for t in torso], tri, torso, root_rest)

    xy_t = tt(xy[:, :, src])  # (V, F, L, 2)
    w_t = tt(w[:, :, src] * corr.weight[None, None])
    tri_t = tt(np.nan_to_num(tri[:, src]))
    w3 = tt(np.isfinite(tri[:, src]).all(-1) * corr.weight[None])
    Rc, tc = tt(np.stack([c.R for c in cams])), tt(np.stack([c.t for c in cams]))
    fpx = tt([float(c.K[0, 0]) for c in cams])[:, None, None]

    R_init_t = tt(R_init)
    d_glob = torch.zeros(F, 3, device=dev, requires_grad=True)
    transl = tt(T_init).clone().requires_grad_(True)
    pose = torch.zeros(F, A - 1, 3, device=dev, requires_grad=True)
    S = model.num_shape
    shape = torch.zeros(1, S, device=dev, requires_grad=True) if S else None
    if shape is not None:
        lrig.linearise(shape)
    stiff, pmean, hinges, h_idx, h_ax, h_bone = _prior_terms(rig, lrig, pos, tt)

    # Where MediaPipe puts a head / torso landmark differs from the model's point by a constant offset in the body
    # frame (hip and shoulder landmarks sit off the joint centres): learned from the 2D detections only (stage 2d).
    offset = torch.zeros(len(src), 3, device=dev, requires_grad=True)
    off_mask = tt([[1.0] if int(m) in OFFSET_LANDMARKS else [0.0] for m in src])

    def landmarks() -> torch.Tensor:
        Rg = rotvec_to_matrix(d_glob) @ R_init_t
        rot = torch.cat([Rg[:, None], rotvec_to_matrix(pose)], 1)
        rest_ = lrig.rest_linear(shape) if shape is not None else rest
        Hj_, V_ = lrig(rot, transl, rest_)
        P = torch.cat([Hj_, V_], 1)[:, gather]  # (F, L, 3) world
        return P + torch.einsum("fij,lj->fli", Rg, offset * off_mask)

    def reproj_px(P: torch.Tensor) -> torch.Tensor:
        """(V, F, L) pixel distances (normalised residual times the focal length)."""
        cam = torch.einsum("vij,flj->vfli", Rc, P) + tc[:, None, None]
        uv = cam[..., :2] / cam[..., 2:].clamp_min(0.05)
        return (uv - xy_t).norm(dim=-1) * fpx

    def loss_fn(stage: str) -> torch.Tensor:
        P = landmarks()
        e = reproj_px(P)
        loss = s.w_2d * (w_t * _gmof((e / 10).pow(2), s.gmof_px / 10)).sum() / (F * V)
        if stage == "3d":
            d = ((P - tri_t) * 100).pow(2).sum(-1)  # cm^2
            loss = loss + s.w_3d * (w3 * _gmof(d, 30.0)).sum() / F
        loss = loss + s.w_prior * (stiff[None, :, None] * (pose - pmean).pow(2)).sum() / F
        if len(hinges):
            loss = loss + s.w_hinge * hinge_penalty(pose, h_idx, h_ax, h_bone) / F
        loss = loss + s.w_hinge * torch.relu(pose.norm(dim=-1) - 2.45).pow(2).sum() / F
        if F > 2:
            acc = (P[2:] - 2 * P[1:-1] + P[:-2]) * (fps * fps / 9.81)
            loss = loss + s.w_accel * _gmof(acc.pow(2).sum(-1), 1000.0).sum() / F
        if F > 1:
            loss = loss + s.w_rot_vel * (pose[1:] - pose[:-1]).pow(2).sum() / F
        if shape is not None:
            loss = loss + s.w_shape * shape.pow(2).sum()
        loss = loss + s.w_offset * (offset * off_mask * 100).pow(2).sum()
        return loss

    params = [d_glob, transl, pose] + ([shape] if shape is not None else [])
    _run_stage(loss_fn, "3d", params, s.iters_3d, s.lr, shape, lrig, progress, cancelled)
    _run_stage(loss_fn, "2d", [d_glob, transl, pose] + ([offset] if s.w_offset > 0 else []), s.iters_2d,
               s.lr * s.lr_2d, None, lrig, progress, cancelled)

    with torch.no_grad():
        P = landmarks()
        e = reproj_px(P).cpu().numpy()
        root = matrix_to_rotvec(rotvec_to_matrix(d_glob) @ R_init_t).cpu().numpy()
        pose_out = pose.cpu().numpy()
    rotvec = np.zeros((F, rig.num_joints, 3))
    rotvec[:, lrig.active_index[1:]] = pose_out
    rotvec[:, 0] = root
    med, confidence = _confidence(e, w[:, :, src] > 0.5)
    t_fit = time.perf_counter() - t0
    log.info("multi-view fit: %d views, %d frames in %.1f s; median reprojection %.1f px", V, F, t_fit,
             float(np.nanmedian(med)) if np.isfinite(med).any() else float("nan"))
    return MultiViewFit(rotvec=rotvec, transl=transl.detach().cpu().numpy().astype(np.float64),
                        shape=shape.detach().cpu().numpy()[0] if shape is not None else np.zeros(0),
                        landmarks=P.cpu().numpy().astype(np.float64), body_index=src, triangulated=tri,
                        confidence=confidence.astype(np.float32), timings={"fit_s": t_fit})


def _prior_terms(rig, lrig, pos: dict, tt):
    """Pose prior tensors of the active joints: stiffness, prior mean, hinge joints / axes / bones."""
    stiff = tt(stiffness(tuple(rig.joint_names[j] for j in lrig.active_index))[1:])
    pmean = tt(prior_mean(rig)[lrig.active_index[1:]])
    hinges = [(pos[j], ax, bone) for j, ax, bone in hinge_axes(rig) if j in pos]
    h_idx = torch.as_tensor([h[0] - 1 for h in hinges], dtype=torch.long, device=stiff.device)
    h_ax = tt(np.array([h[1] for h in hinges]).reshape(-1, 3))
    h_bone = tt(np.array([h[2] for h in hinges]).reshape(-1, 3))
    return stiff, pmean, hinges, h_idx, h_ax, h_bone


def _confidence(err_px: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, F, L) reprojection errors and confident detections -> per-frame median error (F,) px (nan: none seen)
    and confidence (F,) in [0, 1]."""
    F = err_px.shape[1]
    med = np.array([np.median(err_px[:, f][seen[:, f]]) if seen[:, f].any() else np.nan for f in range(F)])
    return med, np.where(np.isfinite(med), np.exp(-np.nan_to_num(med, nan=1e3) / 40.0), 0.0)


def _run_stage(loss_fn, stage: str, params: list, iters: int, lr: float, shape, lrig, progress, cancelled) -> None:
    """Adam with a short warm-up and cosine decay; shape re-linearised every 40 steps and kept in range."""
    if iters <= 0:
        return
    groups = [{"params": [p for p in params if p is not shape], "lr": lr}]
    if shape is not None:
        groups.append({"params": [shape], "lr": lr * 0.5})
    opt = torch.optim.Adam(groups)
    warm = min(20, iters // 2)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: (k + 1) / (warm + 1) if k < warm else 0.5 * (1 + math.cos(math.pi * (k - warm) /
                                                                                  max(1, iters - warm))))
    for it in range(iters):
        if cancelled is not None and cancelled():
            from backend.fitting.fit import FitCancelled

            raise FitCancelled("fit cancelled")
        if shape is not None and it % 40 == 0:
            lrig.linearise(shape)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(stage)
        loss.backward()
        opt.step()
        sched.step()
        if shape is not None:
            with torch.no_grad():
                shape.clamp_(-1.0, 1.0)
        if progress is not None and (it % 10 == 0 or it == iters - 1):
            progress(f"fit {stage}", it + 1, iters)
