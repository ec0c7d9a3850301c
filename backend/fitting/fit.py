"""Whole-sequence fit of a body model to per-frame detections (all frames batched, Adam in torch).

World axes are the model's own; the camera is static, looks at the person from the front with the model's up
axis pointing up in the image (OpenCV camera: x right, y down, z forward), focal length from the image size
unless given. Stages: (1) global orientation + translation, (2) everything (body pose, shared shape, hands),
(3) foot contact: no sliding during detected contacts, nothing below the floor.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import numpy as np
import torch

from backend.bodymodels.base import BodyModel
from backend.fitting import contact as contact_mod
from backend.fitting.correspondences import (BODY_BONES, HAND_BONES, Correspondences, body_correspondences,
                                             face_correspondences, face_points, hand_correspondences, model_axes,
                                             pick_surface_points)
from backend.fitting.init import initial_global, initial_limbs, initial_pnp
from backend.fitting.priors import hinge_axes, hinge_penalty, prior_mean, stiffness
from backend.fitting.skeleton import build_landmark_rig, matrix_to_rotvec, rotvec_to_matrix
from backend.perception.keypoints import Keypoints

log = logging.getLogger(__name__)


class FitCancelled(RuntimeError):
    pass


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
    warmup: int = 20  # iterations over which each stage's learning rate ramps up from zero (then cosine decay)
    fit_shape: bool = True
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


def _gmof(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure on squared residuals."""
    s2 = sigma * sigma
    return s2 * sq / (s2 + sq)


def _lowpass(sigma: float, F: int, dev: torch.device):
    """A function (F, ...) -> (F, ...) applying a Gaussian of ``sigma`` frames along time (edges replicated)."""
    if sigma <= 0 or F < 3:
        return lambda x: x
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32, device=dev) / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, -1)

    def apply(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(F, -1).T[:, None]  # (C, 1, F)
        flat = torch.nn.functional.pad(flat, (r, r), mode="replicate")
        return torch.nn.functional.conv1d(flat, k)[:, 0].T.reshape(x.shape)

    return apply


def _smooth_rotations(R: np.ndarray, sigma: float) -> np.ndarray:
    """(F, 3, 3) -> (F, 3, 3): Gaussian-weighted quaternion average over time (signs made continuous)."""
    from blender_addon.core.rotations import matrix_to_quat, quat_to_matrix

    if sigma <= 0 or len(R) < 3:
        return R
    q = matrix_to_quat(R)
    for i in range(1, len(q)):
        if q[i] @ q[i - 1] < 0:
            q[i] = -q[i]
    r = max(1, int(math.ceil(2.5 * sigma)))
    w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    pad = np.concatenate([np.repeat(q[:1], r, 0), q, np.repeat(q[-1:], r, 0)])
    avg = np.stack([(pad[i:i + 2 * r + 1] * w[:, None]).sum(0) for i in range(len(q))])
    return quat_to_matrix(avg)


def body_part(rig, surface: dict) -> str:
    """What a model covers: "body" (has shoulders and hips), "hand" (has fingers, no torso) or "face"."""
    body = body_correspondences(rig, surface)
    if all(t in set(body.source_index.tolist()) for t in (11, 12, 23, 24)):
        return "body"
    return "hand" if len(hand_correspondences(rig, "right", surface).source_index) >= 10 else "face"


def _targets(sources: dict, corrs: list[Correspondences]) -> tuple[np.ndarray, np.ndarray]:
    uv, w = [], []
    for c in corrs:
        arr = sources[c.source][:, c.source_index]  # (F, L, 3)
        uv.append(arr[..., :2])
        w.append(arr[..., 2] * c.weight[None])
    return np.concatenate(uv, 1), np.concatenate(w, 1)


def fit_keypoints(kp: Keypoints, model: BodyModel, settings: FitSettings = FitSettings(),
                  progress: Callable[[str, int, int], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> FitResult:
    """Fit ``model`` to the detections ``kp`` (frames in kp order). Frames without a detection are filled in by
    the temporal terms."""
    import time

    t_start = time.perf_counter()
    threads = torch.get_num_threads()
    if settings.device == "cpu":
        torch.set_num_threads(1)  # the CPU is shared with detection; small ops are faster single-threaded
    try:
        return _fit(kp, model, settings, progress, cancelled, t_start)
    finally:
        torch.set_num_threads(threads)


def _fit(kp, model, settings, progress, cancelled, t_start) -> FitResult:
    import time

    dev = torch.device(settings.device)
    F = kp.num_frames
    W, H = kp.image_size
    fps = kp.fps / max(1, int(np.median(np.diff(kp.frame_indices))) if F > 1 else 1)
    rig = model.rig_spec()
    surface = pick_surface_points(rig)
    body = body_correspondences(rig, surface)
    part = body_part(rig, surface)
    # MediaPipe also places occluded body landmarks (low visibility), usually about right: keep a floor weight
    # on them (in detected frames) so an occluded limb still follows rather than drifting on priors alone.
    body_w = kp.body.copy()
    body_w[..., 2] = np.where(kp.found[:, None], settings.visibility_floor + (1 - settings.visibility_floor)
                              * kp.body[..., 2], 0.0)
    sources = {"body": body_w, "left_hand": kp.left_hand, "right_hand": kp.right_hand,
               "face_points": face_points(kp.face)}
    if part == "body":
        corrs = [body]
        use_hands = settings.fit_hands and bool((kp.left_hand[..., 2] > 0).any() or
                                                (kp.right_hand[..., 2] > 0).any())
        if use_hands:
            corrs += [hand_correspondences(rig, "left", surface), hand_correspondences(rig, "right", surface)]
    elif part == "hand":
        side = getattr(model, "gender", "")
        if side not in ("left", "right"):
            side = "left" if (kp.left_hand[..., 2] > 0).sum() > (kp.right_hand[..., 2] > 0).sum() else "right"
        corrs = [hand_correspondences(rig, side, surface)]
    else:
        corrs = [face_correspondences(rig, surface)]
    if len(corrs[0].source_index) < 4:
        raise ValueError(f"the {model.name} model has too few joints/points matching MediaPipe landmarks to fit")
    uv_t, w_t = _targets(sources, corrs)
    w_t = w_t * kp.found[:, None]

    # Landmark -> (joint or vertex) gather index into cat([joints of active set, selected vertices]).
    J = rig.num_joints
    active = np.zeros(J, bool)
    verts = []
    for c in corrs:
        active[c.joint[c.joint >= 0]] = True
        verts += [int(v) for v in c.vertex if v >= 0]
    verts = sorted(set(verts))
    lrig = build_landmark_rig(model, rig, active, np.asarray(verts, np.int64)).to(dev)
    A = lrig.num_active
    pos = {int(j): i for i, j in enumerate(lrig.active_index)}
    gather = np.concatenate([[pos[int(j)] if j >= 0 else A + verts.index(int(v)) for j, v in zip(c.joint, c.vertex)]
                             for c in corrs]).astype(np.int64)
    Lb = len(corrs[0].source_index)

    left, up, fwd = model_axes(rig)
    R0 = np.stack([left, -up, -fwd]).astype(np.float64)  # world -> camera, person facing the camera
    f = float(settings.focal or 0.9 * max(W, H))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], np.float64)

    if part == "body":
        R_init, tr_init = initial_global(kp, rig, body, R0, K)
        R_init = _smooth_rotations(R_init, 1.5)
        limb_rot = initial_limbs(kp, rig, body, R0, R_init)
        pose_init = matrix_to_rotvec(torch.as_tensor(limb_rot[:, lrig.active_index[1:]])).float().numpy()
    else:  # a rigid PnP of the rest landmarks (palm and fingers at rest, or the face)
        rest_j, rest_v = (t.cpu().numpy().astype(np.float64) for t in lrig.rest(None))
        c = corrs[0]
        rest_pts = np.where((c.joint >= 0)[:, None], rest_j[np.maximum(c.joint, 0)],
                            rest_v[[verts.index(int(v)) if v >= 0 else 0 for v in c.vertex]])
        R_init, tr_init = initial_pnp(uv_t[:, :Lb], w_t[:, :Lb], rest_pts, rest_j[0], R0, K)
        R_init = _smooth_rotations(R_init, 1.5)
        pose_init = np.zeros((F, A - 1, 3), np.float32)
    tt = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    uv_t, w_t, R_init = tt(uv_t), tt(w_t), tt(R_init)
    R0_t, K_t = tt(R0), tt(K)
    if part == "body":
        height = np.where(kp.found, kp.bbox[:, 3] - kp.bbox[:, 1], 0.0)
    else:  # the extent of the detected hand / face points
        pts = np.where(w_t[:, :Lb, None] > 0, uv_t[:, :Lb], np.nan)
        ext = np.nanmax(pts, 1) - np.nanmin(pts, 1) if np.isfinite(pts).any() else np.zeros((F, 2))
        height = np.nan_to_num(ext.max(1), nan=0.0)
    height = np.maximum(height, 0.05 * H)
    scale = tt(100.0 / height)[:, None, None]  # px -> % of the person's height
    gather_t = torch.as_tensor(gather, device=dev)

    # 3D segment directions (camera axes): MediaPipe's metric world landmarks for the body, the hand landmarks'
    # relative depth (pixels, like x and y) for the fingers.
    ba, bb, dirs, wdirs = [], [], [], []
    offset = 0
    for c in corrs:
        col = {int(s_): offset + i for i, s_ in enumerate(c.source_index)}
        if c.source == "body":
            pairs = [(a, b) for a, b in BODY_BONES if a in col and b in col]
            pts, conf = kp.body_world, body_w[..., 2]
        elif c.source in ("left_hand", "right_hand"):
            pairs = [(a, b) for a, b in HAND_BONES if a in col and b in col]
            depth = getattr(kp, f"{c.source}_depth")
            src = sources[c.source]
            pts = np.concatenate([src[..., :2], (depth if depth is not None else np.zeros(src.shape[:2]))[..., None]],
                                 -1)
            pts = np.where((np.abs(pts[..., 2]).sum(1) > 0)[:, None, None], pts, 0.0)  # no depth: no constraint
            conf = src[..., 2] * settings.hand_3d
        else:
            pairs = []
        for a, b in pairs:
            ba.append(col[a])
            bb.append(col[b])
            dirs.append(pts[:, b] - pts[:, a])
            wdirs.append(np.minimum(conf[:, a], conf[:, b]))
        offset += len(c.source_index)
    ba, bb = np.array(ba, np.int64), np.array(bb, np.int64)
    wd = np.stack(dirs, 1) if dirs else np.zeros((F, 0, 3))
    nrm = np.linalg.norm(wd, axis=-1, keepdims=True)
    dir_t = tt(wd / np.maximum(nrm, 1e-6))
    cb = np.stack(wdirs, 1) if wdirs else np.zeros((F, 0))
    w_dir = tt(cb * kp.found[:, None] * (nrm[..., 0] > 1e-4))

    stiff = tt(stiffness(tuple(rig.joint_names[j] for j in lrig.active_index))[1:])
    pmean = tt(prior_mean(rig)[lrig.active_index[1:]])
    hinges = [(pos[j], ax, bone) for j, ax, bone in hinge_axes(rig) if j in pos]
    h_idx = torch.as_tensor([h[0] - 1 for h in hinges], dtype=torch.long, device=dev)
    h_ax = tt(np.array([h[1] for h in hinges]).reshape(-1, 3))
    h_bone = tt(np.array([h[2] for h in hinges]).reshape(-1, 3))

    d_glob = torch.zeros(F, 3, device=dev, requires_grad=True)
    transl = tt(tr_init).clone().requires_grad_(True)
    pose = tt(pose_init).clone().requires_grad_(True)
    S = model.num_shape
    shape = torch.zeros(1, S, device=dev, requires_grad=True) if (settings.fit_shape and S) else None
    # Overall size is not observable from one view (it trades with depth): keep size-like coefficients fixed.
    names = tuple(getattr(model, "param_names", ()))
    shape_mask = tt([0.0 if n in ("height", "age") else 1.0 for n in names] if len(names) == S else np.ones(S))
    fixed_rest = lrig.rest(None)
    if shape is not None:
        lrig.linearise(shape)
    foot_sel = None
    contact_t = None
    floor_h = 0.0
    up_t = tt(up)
    s = settings

    low = _lowpass(s.smooth_frames, F, dev)

    def landmarks():
        Rg = rotvec_to_matrix(low(d_glob)) @ R_init
        rot = torch.cat([Rg[:, None], rotvec_to_matrix(low(pose))], 1)
        rest = lrig.rest_linear(shape) if shape is not None else fixed_rest
        Hj, V = lrig(rot, low(transl), rest)
        return torch.cat([Hj, V], 1)[:, gather_t]  # (F, L, 3) world

    def losses(stage: int) -> torch.Tensor:
        P = landmarks()
        cam = P @ R0_t.T
        z = cam[..., 2:].clamp_min(0.05)
        uv = cam[..., :2] / z * K_t[0, 0] + K_t[:2, 2]
        res = ((uv - uv_t) * scale).pow(2).sum(-1)
        loss = s.w_2d * (w_t * _gmof(res, sigma[0])).sum() / F
        d = cam[:, bb] - cam[:, ba]
        d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        dev_ = 1 - (d * dir_t).sum(-1)  # 0 .. 2
        if s.dir_sigma > 0:  # robust: a direction MediaPipe got badly wrong pulls less
            dev_ = dev_ * s.dir_sigma / (dev_ + s.dir_sigma)
        loss = loss + s.w_3d * (w_dir * dev_).sum() / F
        if F > 2:
            # Accelerations (in g) of the landmarks relative to the body's centre, and of the centre itself, which
            # genuinely takes several g on landings and take-offs and so is damped less.
            centre = P.mean(1, keepdim=True)
            acc = (P[2:] - 2 * P[1:-1] + P[:-2]) * (fps * fps / 9.81)
            acc_c = acc.mean(1, keepdim=True)
            wa = s.w_accel * ramp[0]
            tw = temporal_w[1:-1, None]  # per-frame weight (lowered where the smoother fought the detections)
            loss = loss + wa * (tw * _gmof((acc - acc_c).pow(2).sum(-1), s.accel_sigma)).sum() / F
            loss = loss + wa * s.centre_accel * P.shape[1] * (tw * acc_c.pow(2).sum(-1)).sum() / F
            del centre
        if stage >= 2:
            sp = low(pose)
            loss = loss + s.w_prior * (stiff[None, :, None] * (sp - pmean).pow(2)).sum() / F
            if len(hinges):
                loss = loss + s.w_hinge * hinge_penalty(sp, h_idx, h_ax, h_bone) / F
            # No joint turns further than ~140 degrees from rest (legs cannot fold up past the chest).
            loss = loss + s.w_hinge * torch.relu(sp.norm(dim=-1) - 2.45).pow(2).sum() / F
            if F > 1:
                loss = loss + s.w_rot_vel * ramp[0] * (temporal_w[1:, None, None] * (sp[1:] - sp[:-1]).pow(2)).sum() / F
            if shape is not None:
                loss = loss + s.w_shape * shape.pow(2).sum()
        if stage >= 3 and foot_sel is not None:
            feet = P[:, foot_sel]  # (F, 2, k, 3)
            step = (feet[1:] - feet[:-1]).pow(2).sum(-1)  # (F-1, 2, k)
            both = (contact_t[1:] & contact_t[:-1]).float()[..., None]
            loss = loss + s.w_slide * (step * both).sum() / F
            h = feet @ up_t - floor_h
            loss = loss + s.w_floor * torch.relu(-h).pow(2).sum() / F
        return loss

    sigma = [s.gmof_sigma]
    ramp = [1.0]
    temporal_w = torch.ones(F, device=dev)

    def run(stage: int, params: list, iters: int, lr: float, name: str, sigmas: tuple[float, float]) -> None:
        if iters <= 0:
            return
        groups = [{"params": [p for p in params if p is not shape and p is not pose], "lr": lr}]
        if any(p is pose for p in params):
            groups.append({"params": [pose], "lr": lr * s.lr_pose})
        if shape is not None and any(p is shape for p in params):
            groups.append({"params": [shape], "lr": lr * 0.25})
        opt = torch.optim.Adam(groups)
        warm = max(0, min(s.warmup, iters // 2))
        sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine decay to zero
            opt, lambda k: (k + 1) / (warm + 1) if k < warm else
            0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, iters - warm))))
        for it in range(iters):
            if cancelled is not None and cancelled():
                raise FitCancelled("fit cancelled")
            # Anneal the robust scale: far-off landmarks (arms from the rest pose) must pull first.
            sigma[0] = sigmas[0] * (sigmas[1] / sigmas[0]) ** (it / max(1, iters - 1))
            # Temporal terms grow in over the first part of a stage: frames settle on their own data first, so a
            # fast change (a landing after a tuck) is not dragged into its neighbours' pose.
            ramp[0] = min(1.0, s.temporal_start + (1 - s.temporal_start) * it / max(1.0, s.temporal_ramp * iters))
            if shape is not None and it % 40 == 0:
                lrig.linearise(shape)
            opt.zero_grad(set_to_none=True)
            loss = losses(stage)
            loss.backward()
            opt.step()
            sched.step()
            if shape is not None:
                with torch.no_grad():
                    shape.mul_(shape_mask).clamp_(-0.45, 0.45)
            if progress is not None and (it % 10 == 0 or it == iters - 1):
                progress(name, it + 1, iters)
        log.debug("%s: loss %.4f", name, float(loss.detach()))

    t0 = time.perf_counter()
    run(1, [d_glob, transl], s.iters_global, s.lr * 1.5, "fit global", (50.0, 25.0))
    params = [d_glob, transl, pose] + ([shape] if shape is not None else [])
    run(2, params, s.iters_body, s.lr, "fit body", (40.0, s.gmof_sigma))
    # Frames the fit misses by far although the detector is confident are fast motions the temporal terms
    # flattened (a landing): relax smoothing there (and around) and refine.
    if s.iters_relax > 0 and F > 2:
        with torch.no_grad():
            P = landmarks()
            cam = P @ R0_t.T
            uv = cam[..., :2] / cam[..., 2:].clamp_min(0.05) * K_t[0, 0] + K_t[:2, 2]
            res = ((uv - uv_t) * scale).norm(dim=-1)[:, :Lb]  # % of the person's height
            conf = w_t[:, :Lb] > 0.5
            bad = torch.stack([(r[c].median() if c.sum() >= 4 else torch.zeros(())) for r, c in zip(res, conf)])
            missed = (bad > s.relax_threshold).cpu().numpy()
        if missed.any():
            missed = np.convolve(missed.astype(float), np.ones(5), mode="same") > 0
            temporal_w = tt(np.where(missed, s.relax_weight, 1.0))
            log.info("relaxing temporal smoothing on %d frames the fit missed", int(missed.sum()))
            run(2, params, s.iters_relax, s.lr * 0.5, "fit relax", (s.gmof_sigma, s.gmof_sigma))

    # Foot contact from the fitted feet, then a short refinement with contact constraints.
    foot_pts = []
    for side in ("L", "R"):
        idx = [i for i, n in enumerate(body.names) if n in (f"heel.{side}", f"toe.{side}")]
        foot_pts.append(idx)
    with torch.no_grad():
        P = landmarks().cpu().numpy()
    contact = np.zeros((F, 2), bool)
    if part == "body" and all(len(p) == 2 for p in foot_pts):
        foot_sel = torch.as_tensor(np.array(foot_pts), device=dev)
        feet = P[:, np.array(foot_pts)]
        contact = contact_mod.detect_contact(feet, up, fps, view_dir=R0[2])
        floor_h = contact_mod.floor_height(feet, contact, up)
        contact_t = torch.as_tensor(contact, device=dev)
        run(3, params, s.iters_contact, s.lr * 0.5, "fit contact", (s.gmof_sigma, s.gmof_sigma))
    t_fit = time.perf_counter() - t0

    with torch.no_grad():
        P = landmarks()
        cam = P @ R0_t.T
        uv = (cam[..., :2] / cam[..., 2:].clamp_min(0.05) * K_t[0, 0] + K_t[:2, 2]).cpu().numpy()
        Rg = (rotvec_to_matrix(low(d_glob)) @ R_init)
        root = matrix_to_rotvec(Rg).cpu().numpy()
        pose_out = low(pose).cpu().numpy()
        transl_out = low(transl).cpu().numpy().astype(np.float64)
    rotvec = np.zeros((F, J, 3))
    rotvec[:, lrig.active_index[1:]] = pose_out
    rotvec[:, 0] = root
    # Floor at height 0: move the world, and the camera with it.
    tr = transl_out - up * floor_h
    cam_t = R0 @ up * floor_h
    body_uv = uv[:, :Lb]
    tgt = uv_t[:, :Lb].cpu().numpy()
    raw = kp.body if corrs[0].source == "body" else sources[corrs[0].source]  # the detector's own confidences
    conf = raw[:, corrs[0].source_index, 2]
    err = np.linalg.norm(body_uv - tgt, axis=-1)
    good = (conf > 0.5) & kp.found[:, None]
    reproj = np.array([np.median(e[g]) if g.any() else np.nan for e, g in zip(err, good)])
    rel = np.nan_to_num(reproj / np.maximum(height, 1.0), nan=1.0)
    confidence = kp.found * conf.mean(1) * np.exp(-rel / 0.05)
    median = float(np.nanmedian(reproj)) if np.isfinite(reproj).any() else float("nan")
    log.info("fit %d frames in %.1f s; median reprojection %.1f px", F, t_fit, median)
    return FitResult(rotvec=rotvec, transl=tr, shape=(shape.detach().cpu().numpy()[0] if shape is not None
                                                       else np.zeros(S)),
                     K=K, cam_R=R0, cam_t=cam_t, contact=contact, confidence=confidence.astype(np.float32),
                     reproj_px=reproj, body_uv=body_uv, body_index=corrs[0].source_index, floor=0.0, part=part,
                     detections=raw,
                     timings={"fit_s": t_fit, "total_s": time.perf_counter() - t_start})

