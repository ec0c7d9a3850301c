"""Per-frame initial global orientation and translation from the torso (no optimisation)."""

from __future__ import annotations

import numpy as np

from backend.fitting.correspondences import Correspondences
from backend.perception.keypoints import Keypoints
from blender_addon.core.rigspec import RigSpec

TORSO = (11, 12, 23, 24)  # MediaPipe shoulders and hips


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) minimising |R src_i - dst_i| for centred (N, 3) point sets."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def initial_global(kp: Keypoints, rig: RigSpec, body: Correspondences, R0: np.ndarray, K: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Global rotation (F, 3, 3) in model axes and translation (F, 3) metres per frame, from the torso's metric
    world landmarks (orientation) and its image size (depth). Frames without a detection copy the nearest one."""
    F = kp.num_frames
    idx = {int(s): i for i, s in enumerate(body.source_index)}
    joints = [int(body.joint[idx[t]]) for t in TORSO]
    P = rig.rest_joints[joints]  # (4, 3) model rest torso
    Pc = P - P.mean(0)
    rest0 = rig.rest_joints[0]
    f, cx, cy = K[0, 0], K[0, 2], K[1, 2]
    R = np.tile(np.eye(3), (F, 1, 1))
    T = np.zeros((F, 3))
    C = np.zeros((F, 3))  # torso centre in camera coordinates
    ok = np.zeros(F, bool)
    Q = Pc @ R0.T  # rest torso in camera axes
    for i in range(F):
        if not kp.found[i]:
            continue
        obs = kp.body_world[i, list(TORSO)].astype(np.float64)
        Rc = _kabsch(Q, obs - obs.mean(0)) if np.abs(obs).sum() > 0 else np.eye(3)
        X = Q @ Rc.T
        uv = kp.body[i, list(TORSO), :2].astype(np.float64)
        spread2d = np.sqrt(((uv - uv.mean(0)) ** 2).sum(1).mean())
        spread3d = np.sqrt(((X[:, :2] - X[:, :2].mean(0)) ** 2).sum(1).mean())
        if spread2d < 1.0:
            continue
        z = f * spread3d / spread2d
        c = np.array([(uv[:, 0].mean() - cx) * z / f, (uv[:, 1].mean() - cy) * z / f, z])
        Rg = R0.T @ Rc @ R0
        R[i] = Rg
        C[i] = c
        ok[i] = True
    if not ok.any():
        T[:] = R0.T @ np.array([0, 0, 3.0]) - rest0
        return R, T
    # Depth from a 4-point spread is noisy: a running median over ~9 frames.
    good = np.nonzero(ok)[0]
    zs = C[good, 2]
    zm = np.array([np.median(zs[max(0, k - 4): k + 5]) for k in range(len(good))])
    C[good] *= (zm / np.maximum(zs, 1e-6))[:, None]  # scale along the viewing ray keeps the 2D position
    T = C @ R0 - rest0 - np.einsum("fab,b->fa", R, P.mean(0) - rest0)
    nearest = good[np.abs(np.arange(F)[:, None] - good[None]).argmin(1)]
    return R[nearest], T[nearest]


# (MediaPipe start, MediaPipe end) per limb segment, parents before children.
LIMBS = ((11, 13), (12, 14), (23, 25), (24, 26), (13, 15), (14, 16), (25, 27), (26, 28))


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) smallest rotations taking unit vectors a (N, 3) onto b (N, 3)."""
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    s = np.linalg.norm(v, axis=-1)
    k = v / np.maximum(s, 1e-9)[:, None]
    angle = np.arctan2(s, c)
    from blender_addon.core.rotations import rotvec_to_matrix

    return rotvec_to_matrix(k * angle[:, None])


def initial_limbs(kp: Keypoints, rig: RigSpec, body: Correspondences, R0: np.ndarray, R_glob: np.ndarray
                  ) -> np.ndarray:
    """Local rotations (F, J, 3, 3): identity except the joints that start each limb segment, swung so the segment
    points along MediaPipe's metric world direction (camera axes, mapped to the world with R0)."""
    F, J = kp.num_frames, rig.num_joints
    idx = {int(s): i for i, s in enumerate(body.source_index)}
    rot = np.tile(np.eye(3), (F, J, 1, 1))
    rot[:, 0] = R_glob
    have_world = np.abs(kp.body_world).sum((1, 2)) > 0
    for a, b in LIMBS:
        if a not in idx or b not in idx:
            continue
        ja, jb = int(body.joint[idx[a]]), int(body.joint[idx[b]])
        if ja < 0 or jb < 0:
            continue
        G, _ = rig.forward_kinematics(rot)
        Gp = G[:, rig.parents[ja]]  # (F, 3, 3)
        v_rest = rig.rest_joints[jb] - rig.rest_joints[ja]
        cur = Gp @ v_rest  # (F, 3) with this joint at rest
        target = (kp.body_world[:, b] - kp.body_world[:, a]).astype(np.float64) @ R0  # camera -> world
        ok = have_world & (np.linalg.norm(target, axis=-1) > 1e-4)
        if not ok.any():
            continue
        cur_n = cur / np.linalg.norm(cur, axis=-1, keepdims=True)
        tgt_n = target / np.maximum(np.linalg.norm(target, axis=-1, keepdims=True), 1e-9)
        S = _swing(cur_n[ok], tgt_n[ok])
        rot[ok, ja] = np.transpose(Gp[ok], (0, 2, 1)) @ S @ Gp[ok]
    return rot


def initial_pnp(uv: np.ndarray, w: np.ndarray, rest_pts: np.ndarray, rest0: np.ndarray, R0: np.ndarray,
                K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global rotation (F, 3, 3) and translation (F, 3) per frame from a rigid PnP of the rest points
    rest_pts (L, 3) to the detections uv (F, L, 2) with weights w (F, L) (hand palm, face). Frames with fewer than
    four detected points copy the nearest solved frame."""
    import cv2

    F = uv.shape[0]
    R = np.tile(np.eye(3), (F, 1, 1))
    T = np.zeros((F, 3))
    ok = np.zeros(F, bool)
    for i in range(F):
        sel = w[i] > 0.3
        if sel.sum() < 4:
            continue
        good, rvec, tvec = cv2.solvePnP(rest_pts[sel].astype(np.float64), uv[i, sel].astype(np.float64), K, None,
                                        flags=cv2.SOLVEPNP_EPNP if sel.sum() >= 6 else cv2.SOLVEPNP_SQPNP)
        if not good:
            continue
        Rc = cv2.Rodrigues(rvec)[0]
        tc = tvec[:, 0]
        if (rest_pts[sel] @ Rc.T + tc)[:, 2].min() <= 0:
            continue
        R[i] = R0.T @ Rc  # camera = R0 world, world = R_g (x - rest0) + rest0 + transl
        T[i] = R0.T @ (tc + Rc @ rest0) - rest0
        ok[i] = True
    if not ok.any():
        T[:] = R0.T @ np.array([0, 0, 0.5]) - rest0
        return R, T
    good = np.nonzero(ok)[0]
    nearest = good[np.abs(np.arange(F)[:, None] - good[None]).argmin(1)]
    return R[nearest], T[nearest]
