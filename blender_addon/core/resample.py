"""Exact frame-rate resampling of a Motion (numpy only, no bpy).

A motion of F frames at ``fps_src`` covers ``F / fps_src`` seconds (frame i at ``i / fps_src``). Resampling to
``fps_dst`` keeps that real-time duration: the output has ``round(F * fps_dst / fps_src)`` frames, frame k at
``k / fps_dst`` seconds. Rotations are interpolated by quaternion slerp, everything else linearly (foot contact by
nearest frame). Times past the last source frame hold the last pose.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .motion import Camera, Motion
from .rotations import matrix_to_quat, quat_continuity, quat_to_matrix, quat_to_rotvec, rotvec_to_quat


def resample_count(num_frames: int, fps_src: float, fps_dst: float) -> int:
    """Frames needed at ``fps_dst`` to cover ``num_frames / fps_src`` seconds (at least 1)."""
    return max(1, int(round(num_frames * float(fps_dst) / float(fps_src))))


def sample_positions(num_frames: int, fps_src: float, fps_dst: float) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (K,) int and blend weights (K,) in [0, 1) for each output frame (clamped to the last)."""
    k = resample_count(num_frames, fps_src, fps_dst)
    pos = np.arange(k, dtype=np.float64) * (float(fps_src) / float(fps_dst))
    pos = np.clip(pos, 0.0, num_frames - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), max(num_frames - 2, 0))
    alpha = pos - i0
    if num_frames == 1:
        alpha[:] = 0.0
    return i0, alpha


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of (..., 4) unit quaternions (w, x, y, z); t broadcasts against (...)."""
    q0 = np.asarray(q0, np.float64)
    q1 = np.asarray(q1, np.float64)
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where((dot < 0)[..., None], -q1, q1)
    dot = np.abs(dot)
    t = np.broadcast_to(np.asarray(t, np.float64), dot.shape)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    near = sin < 1e-8
    safe = np.where(near, 1.0, sin)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    q = w0[..., None] * q0 + w1[..., None] * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _lerp(x: np.ndarray, i0: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    i1 = np.minimum(i0 + 1, x.shape[0] - 1)
    a = alpha.reshape((-1,) + (1,) * (x.ndim - 1))
    return (1.0 - a) * x[i0] + a * x[i1]


def slerp_rotvec(rotvec: np.ndarray, i0: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Rotations between frames: rotvec (T, ..., 3) axis-angle, i0 (N,) int frame index, alpha (N,) in [0, 1] ->
    (N, ..., 3), the slerp from frame i0 towards i0 + 1 (clamped at the last frame), over the shorter arc."""
    q = quat_continuity(rotvec_to_quat(rotvec), axis=0)
    i1 = np.minimum(i0 + 1, q.shape[0] - 1)
    a = alpha.reshape((-1,) + (1,) * (q.ndim - 2))
    return quat_to_rotvec(slerp(q[i0], q[i1], a))


def resample_motion(motion: Motion, fps_dst: float) -> Motion:
    """Return ``motion`` resampled to ``fps_dst`` with the same real-time duration (itself if fps match)."""
    if fps_dst <= 0:
        raise ValueError(f"target frame rate must be positive, got {fps_dst}")
    if abs(float(fps_dst) - float(motion.fps)) < 1e-9:
        return motion
    i0, alpha = sample_positions(motion.num_frames, motion.fps, fps_dst)
    nearest = np.minimum(np.round(i0 + alpha).astype(np.int64), motion.num_frames - 1)
    camera = None
    if motion.camera is not None:
        c = motion.camera
        q = quat_continuity(matrix_to_quat(c.R), axis=0)
        i1 = np.minimum(i0 + 1, q.shape[0] - 1)
        camera = Camera(K=_lerp(c.K, i0, alpha), R=quat_to_matrix(slerp(q[i0], q[i1], alpha[:, None][:, 0])),
                        t=_lerp(c.t, i0, alpha), image_size=c.image_size)
    return dataclasses.replace(
        motion,
        fps=float(fps_dst),
        rotvec=slerp_rotvec(motion.rotvec, i0, alpha),
        transl=_lerp(motion.transl, i0, alpha),
        expression=None if motion.expression is None else _lerp(motion.expression, i0, alpha),
        confidence=None if motion.confidence is None else _lerp(motion.confidence, i0, alpha),
        foot_contact=None if motion.foot_contact is None else np.asarray(motion.foot_contact)[nearest],
        camera=camera,
        metadata={**motion.metadata, "resampled_from_fps": float(motion.fps)},
    )
