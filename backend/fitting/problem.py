"""The fixed data of one sequence fit (:class:`FitProblem`): which model points match which landmarks, the 2D and
3D targets, the camera, the initial pose and the prior terms, built by :func:`prepare_problem` from the detections.

Steps: correspondences (body / hand / face) -> landmark rig (only the joints and vertices the fit needs) ->
camera and initial pose -> per-frame scale of the residuals -> 3D direction targets -> priors.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from backend.bodymodels.base import BodyModel
from backend.fitting.correspondences import (BODY_BONES, HAND_BONES, Correspondences, body_correspondences,
                                             face_correspondences, face_points, hand_correspondences, model_axes,
                                             pick_surface_points)
from backend.fitting.init import initial_global, initial_limbs, initial_pnp
from backend.fitting.priors import hinge_axes, prior_mean, stiffness
from backend.fitting.skeleton import LandmarkRig, build_landmark_rig, matrix_to_rotvec
from backend.perception.keypoints import Keypoints

if TYPE_CHECKING:
    from backend.fitting.fit import FitSettings


@dataclasses.dataclass(eq=False)
class FitProblem:
    """Everything a fit of F frames to L landmarks holds fixed (tensors on ``dev``; numpy where noted)."""

    kp: Keypoints
    dev: torch.device
    F: int
    fps: float  # of the fitted frames (source fps / stride)
    part: str  # "body", "hand" or "face"
    body: Correspondences  # the body correspondences (feet for contacts)
    corrs: list  # [Correspondences]: the first one's landmarks are the reported ones
    sources: dict  # detection arrays by source name (numpy)
    Lb: int  # landmarks of corrs[0]
    lrig: LandmarkRig
    gather: torch.Tensor  # (L,) index into cat([active joints, selected vertices])
    num_joints: int
    num_shape: int
    up: np.ndarray  # (3,) model up axis
    R0: np.ndarray  # (3, 3) world -> camera
    K: np.ndarray  # (3, 3) pixels
    R0_t: torch.Tensor
    K_t: torch.Tensor
    R_init: torch.Tensor  # (F, 3, 3) initial global orientation
    tr_init: np.ndarray  # (F, 3) metres
    pose_init: np.ndarray  # (F, A - 1, 3) initial local rotations of the active joints
    uv_t: torch.Tensor  # (F, L, 2) target pixels
    w_t: torch.Tensor  # (F, L) target weights
    height: np.ndarray  # (F,) person's image height, pixels
    scale: torch.Tensor  # (F, 1, 1) px -> % of the person's height
    ba: np.ndarray  # (D,) direction start columns
    bb: np.ndarray  # (D,) direction end columns
    dir_t: torch.Tensor  # (F, D, 3) unit target directions, camera axes
    w_dir: torch.Tensor  # (F, D)
    stiff: torch.Tensor  # (A - 1,) prior weight per active joint
    pmean: torch.Tensor  # (A - 1, 3) prior mean rotations
    h_idx: torch.Tensor  # hinge joints (columns of the pose)
    h_ax: torch.Tensor  # (H, 3) hinge axes
    h_bone: torch.Tensor  # (H, 3) hinge bone directions
    shape_mask: torch.Tensor  # (S,) 0 for size-like coefficients (fixed)
    fixed_rest: tuple  # rest joints and vertices at the model's own shape
    up_t: torch.Tensor


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


def _correspondences(kp: Keypoints, model: BodyModel, rig, s: "FitSettings") -> tuple:
    """(part, body correspondences, [Correspondences], detection sources) for this model and these detections."""
    surface = pick_surface_points(rig)
    body = body_correspondences(rig, surface)
    part = body_part(rig, surface)
    # MediaPipe also places occluded body landmarks (low visibility), usually about right: keep a floor weight
    # on them (in detected frames) so an occluded limb still follows rather than drifting on priors alone.
    body_w = kp.body.copy()
    body_w[..., 2] = np.where(kp.found[:, None], s.visibility_floor + (1 - s.visibility_floor)
                              * kp.body[..., 2], 0.0)
    sources = {"body": body_w, "left_hand": kp.left_hand, "right_hand": kp.right_hand,
               "face_points": face_points(kp.face)}
    if part == "body":
        corrs = [body]
        use_hands = s.fit_hands and bool((kp.left_hand[..., 2] > 0).any() or (kp.right_hand[..., 2] > 0).any())
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
    return part, body, corrs, sources


def _landmark_rig(model: BodyModel, rig, corrs: list, dev: torch.device, regress: tuple[int, ...] = ()) -> tuple:
    """(LandmarkRig of the joints and vertices the correspondences use, gather index (L,), vertex list).

    ``regress``: MediaPipe body landmarks placed by the model's vertex regressor (their definition: see
    backend/fitting/regressor.py) instead of at joint centres, where the model has one."""
    from backend.fitting.regressor import mediapipe_regressor

    active = np.zeros(rig.num_joints, bool)
    verts = []
    for c in corrs:
        active[c.joint[c.joint >= 0]] = True
        verts += [int(v) for v in c.vertex if v >= 0]
    verts = sorted(set(verts))
    body_src = [int(i) for c in corrs if c.source == "body" for i in c.source_index]
    regress = tuple(i for i in regress if i in body_src)
    reg = mediapipe_regressor(model, regress) if regress else None
    regress = regress if reg is not None else ()
    lrig = build_landmark_rig(model, rig, active, np.asarray(verts, np.int64), regressed=reg).to(dev)
    A = lrig.num_active
    pos = {int(j): i for i, j in enumerate(lrig.active_index)}

    def column(c, i: int, j: int, v: int) -> int:
        src = int(c.source_index[i])
        if c.source == "body" and src in regress:
            return A + len(verts) + regress.index(src)
        return pos[int(j)] if j >= 0 else A + verts.index(int(v))

    gather = np.concatenate([[column(c, i, j, v) for i, (j, v) in enumerate(zip(c.joint, c.vertex))]
                             for c in corrs]).astype(np.int64)
    return lrig, gather, verts


def _initial_pose(kp, rig, part, body, corrs, lrig, verts, uv_t, w_t, R0, K) -> tuple:
    """(R_init (F, 3, 3), tr_init (F, 3), pose_init (F, A - 1, 3)): limbs from the detections for bodies; a rigid
    PnP of the rest landmarks (palm and fingers at rest, or the face) otherwise."""
    if part == "body":
        R_init, tr_init = initial_global(kp, rig, body, R0, K)
        R_init = smooth_rotations(R_init, 1.5)
        limb_rot = initial_limbs(kp, rig, body, R0, R_init)
        pose_init = matrix_to_rotvec(torch.as_tensor(limb_rot[:, lrig.active_index[1:]])).float().numpy()
        return R_init, tr_init, pose_init
    Lb = len(corrs[0].source_index)
    rest_j, rest_v = (t.cpu().numpy().astype(np.float64) for t in lrig.rest(None))
    c = corrs[0]
    rest_pts = np.where((c.joint >= 0)[:, None], rest_j[np.maximum(c.joint, 0)],
                        rest_v[[verts.index(int(v)) if v >= 0 else 0 for v in c.vertex]])
    R_init, tr_init = initial_pnp(uv_t[:, :Lb], w_t[:, :Lb], rest_pts, rest_j[0], R0, K)
    R_init = smooth_rotations(R_init, 1.5)
    return R_init, tr_init, np.zeros((kp.num_frames, lrig.num_active - 1, 3), np.float32)


def _person_height(kp: Keypoints, part: str, uv_t: torch.Tensor, w_t: torch.Tensor, Lb: int) -> np.ndarray:
    """(F,) the person's height in the image (bodies: the box; hands / faces: the detected points' extent), px."""
    F, H = kp.num_frames, kp.image_size[1]
    if part == "body":
        height = np.where(kp.found, kp.bbox[:, 3] - kp.bbox[:, 1], 0.0)
    else:
        pts = np.where(w_t[:, :Lb, None] > 0, uv_t[:, :Lb], np.nan)
        ext = np.nanmax(pts, 1) - np.nanmin(pts, 1) if np.isfinite(pts).any() else np.zeros((F, 2))
        height = np.nan_to_num(ext.max(1), nan=0.0)
    return np.maximum(height, 0.05 * H)


def _direction_targets(kp: Keypoints, corrs: list, sources: dict, s: "FitSettings") -> tuple:
    """3D segment directions (camera axes): MediaPipe's metric world landmarks for the body, the hand landmarks'
    relative depth (pixels, like x and y) for the fingers. Returns (ba (D,), bb (D,), unit dirs (F, D, 3),
    weights (F, D)) as numpy."""
    F = kp.num_frames
    ba, bb, dirs, wdirs = [], [], [], []
    offset = 0
    for c in corrs:
        col = {int(s_): offset + i for i, s_ in enumerate(c.source_index)}
        if c.source == "body":
            pairs = [(a, b) for a, b in BODY_BONES if a in col and b in col]
            pts, conf = kp.body_world, sources["body"][..., 2]
        elif c.source in ("left_hand", "right_hand"):
            pairs = [(a, b) for a, b in HAND_BONES if a in col and b in col]
            depth = getattr(kp, f"{c.source}_depth")
            src = sources[c.source]
            pts = np.concatenate([src[..., :2], (depth if depth is not None else np.zeros(src.shape[:2]))[..., None]],
                                 -1)
            pts = np.where((np.abs(pts[..., 2]).sum(1) > 0)[:, None, None], pts, 0.0)  # no depth: no constraint
            conf = src[..., 2] * s.hand_3d
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
    cb = np.stack(wdirs, 1) if wdirs else np.zeros((F, 0))
    return ba, bb, wd / np.maximum(nrm, 1e-6), cb * kp.found[:, None] * (nrm[..., 0] > 1e-4)


def _prior_terms(model: BodyModel, rig, lrig: LandmarkRig, tt, fixed_shape: tuple[str, ...]) -> dict:
    """Stiffness, prior mean, hinge limits (as tensors) and the shape mask of the active joints."""
    pos = {int(j): i for i, j in enumerate(lrig.active_index)}
    hinges = [(pos[j], ax, bone) for j, ax, bone in hinge_axes(rig) if j in pos]
    S = model.num_shape
    # Overall size is not observable from one view (it trades with depth): ``fixed_shape`` coefficients stay fixed.
    names = tuple(getattr(model, "param_names", ()))
    return {"stiff": tt(stiffness(tuple(rig.joint_names[j] for j in lrig.active_index))[1:]),
            "pmean": tt(prior_mean(rig)[lrig.active_index[1:]]),
            "h_idx": torch.as_tensor([h[0] - 1 for h in hinges], dtype=torch.long, device=tt(0.0).device),
            "h_ax": tt(np.array([h[1] for h in hinges]).reshape(-1, 3)),
            "h_bone": tt(np.array([h[2] for h in hinges]).reshape(-1, 3)),
            "shape_mask": tt([0.0 if n in fixed_shape else 1.0 for n in names] if len(names) == S
                             else np.ones(S))}


def prepare_problem(kp: Keypoints, model: BodyModel, s: "FitSettings") -> FitProblem:
    """The fixed data of a fit of ``model`` to ``kp`` (see the module docstring for the steps)."""
    dev = torch.device(s.device)
    F = kp.num_frames
    W, H = kp.image_size
    fps = kp.fps / max(1, int(np.median(np.diff(kp.frame_indices))) if F > 1 else 1)
    rig = model.rig_spec()
    part, body, corrs, sources = _correspondences(kp, model, rig, s)
    uv_np, w_np = _targets(sources, corrs)
    w_np = w_np * kp.found[:, None]
    lrig, gather, verts = _landmark_rig(model, rig, corrs, dev, tuple(s.regressed_landmarks))
    Lb = len(corrs[0].source_index)

    left, up, fwd = model_axes(rig)
    R0 = np.stack([left, -up, -fwd]).astype(np.float64)  # world -> camera, person facing the camera
    f = float(s.focal or 0.9 * max(W, H))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], np.float64)
    R_init, tr_init, pose_init = _initial_pose(kp, rig, part, body, corrs, lrig, verts, uv_np, w_np, R0, K)
    tt = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    uv_t, w_t = tt(uv_np), tt(w_np)
    height = _person_height(kp, part, uv_t, w_t, Lb)
    ba, bb, dirs, w_dir = _direction_targets(kp, corrs, sources, s)
    return FitProblem(kp=kp, dev=dev, F=F, fps=fps, part=part, body=body, corrs=corrs, sources=sources, Lb=Lb,
                      lrig=lrig, gather=torch.as_tensor(gather, device=dev), num_joints=rig.num_joints,
                      num_shape=model.num_shape, up=up, R0=R0, K=K, R0_t=tt(R0), K_t=tt(K), R_init=tt(R_init),
                      tr_init=tr_init, pose_init=pose_init, uv_t=uv_t, w_t=w_t, height=height,
                      scale=tt(100.0 / height)[:, None, None], ba=ba, bb=bb, dir_t=tt(dirs), w_dir=tt(w_dir),
                      fixed_rest=lrig.rest(None), up_t=tt(up), **_prior_terms(model, rig, lrig, tt, tuple(s.fixed_shape)))


def smooth_rotations(R: np.ndarray, sigma: float) -> np.ndarray:
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


DENSE_LOWPASS_FRAMES = 600  # sequences up to this long low-pass by a dense matrix


def lowpass(sigma: float, F: int, dev: torch.device):
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

    if F > DENSE_LOWPASS_FRAMES:
        return apply
    # The same filter as an (F, F) matrix: one matmul forward and backward, several times cheaper than conv1d's
    # backward on these sizes (the fit calls it for every parameter in every iteration).
    M = apply(torch.eye(F, device=dev))
    return lambda x: (M @ x.reshape(F, -1)).reshape(x.shape)
