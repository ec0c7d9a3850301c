"""Clean-ups of per-frame detections that need the neighbouring frames."""

from __future__ import annotations

import dataclasses

import numpy as np

from backend.perception.keypoints import Keypoints

# MediaPipe pose: (left, right) landmark pairs (the person's sides).
POSE_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22),
              (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
_LIMBS = (11, 13, 15, 23, 25, 27)  # left-side landmarks used to decide (their right partners follow)


def _mirror_index() -> np.ndarray:
    idx = np.arange(33)
    for a, b in POSE_PAIRS:
        idx[a], idx[b] = b, a
    return idx


def fix_left_right_swaps(kp: Keypoints, max_gap: int = 3, ratio: float = 0.6) -> tuple[Keypoints, np.ndarray]:
    """Undo frames where the detector exchanged the person's left and right (it happens for a frame or two with
    raised arms or motion blur): a frame is mirrored when its swapped landmarks sit much closer (``ratio``) to the
    previous detected frame (at most ``max_gap`` frames back) than its unswapped ones. Returns the corrected
    Keypoints and the (F,) bool mask of mirrored frames."""
    mirror = _mirror_index()
    body, world = kp.body.copy(), kp.body_world.copy()
    lh, rh = kp.left_hand.copy(), kp.right_hand.copy()
    zero = np.zeros(kp.left_hand.shape[:2], np.float32)
    lz = (kp.left_hand_depth if kp.left_hand_depth is not None else zero).copy()
    rz = (kp.right_hand_depth if kp.right_hand_depth is not None else zero).copy()
    swapped = np.zeros(kp.num_frames, bool)
    left = np.array(_LIMBS)
    right = mirror[left]
    prev = -1
    for i in range(kp.num_frames):
        if not kp.found[i]:
            continue
        if prev >= 0 and i - prev <= max_gap:
            p, q = body[prev, :, :2], body[i, :, :2]
            same = np.linalg.norm(q[left] - p[left], axis=1).sum() + np.linalg.norm(q[right] - p[right], axis=1).sum()
            swap = np.linalg.norm(q[right] - p[left], axis=1).sum() + np.linalg.norm(q[left] - p[right], axis=1).sum()
            if swap < ratio * same:
                body[i] = body[i, mirror]
                world[i] = world[i, mirror]
                lh[i], rh[i] = rh[i].copy(), lh[i].copy()
                lz[i], rz[i] = rz[i].copy(), lz[i].copy()
                swapped[i] = True
        prev = i
    return dataclasses.replace(kp, body=body, body_world=world, left_hand=lh, right_hand=rh, left_hand_depth=lz,
                               right_hand_depth=rz), swapped
