"""Pose priors that need no licensed data: per-joint stiffness by role, and hinge limits (knees, elbows) derived
from the model's own rest geometry."""

from __future__ import annotations

import numpy as np
import torch

from backend.fitting.correspondences import find_joint, model_axes
from blender_addon.core.rigspec import RigSpec

# name fragment -> stiffness (weight on |rotvec|^2); first match wins; default 1.
STIFFNESS = (
    ("02.", 8.0),  # Anny twist/helper segments (upperarm02, lowerarm02, upperleg02, lowerleg02)
    ("pelvis", 20.0), ("clavicle", 6.0), ("collar", 4.0), ("shoulder01", 6.0),
    ("spine", 3.0), ("neck", 3.0), ("head", 1.0), ("eye", 50.0), ("jaw", 5.0),
    ("metacarpal", 20.0), ("finger", 0.3), ("thumb", 0.3), ("index", 0.3), ("middle", 0.3), ("ring", 0.3),
    ("pinky", 0.3), ("toe", 20.0), ("foot", 2.0), ("ankle", 2.0), ("left_foot", 10.0), ("right_foot", 10.0),
)

# (hinge joint candidates, child joint candidates, bending direction: +1 forward, -1 backward)
HINGES = (
    (("lowerleg01{a}", "{s}_knee"), ("foot{a}", "{s}_ankle"), -1.0),
    (("lowerarm01{a}", "{s}_elbow"), ("wrist{a}", "{s}_wrist"), 1.0),
)


def stiffness(names: tuple[str, ...]) -> np.ndarray:
    """(J,) prior weight per joint (0 for the root)."""
    out = np.ones(len(names), np.float32)
    for j, n in enumerate(names):
        for frag, w in STIFFNESS:
            if frag in n:
                out[j] = w
                break
    out[0] = 0.0
    return out


def hinge_axes(rig: RigSpec) -> list[tuple[int, np.ndarray]]:
    """(joint index, unit axis) per hinge joint: rotating about +axis bends the limb the natural way."""
    _, up, fwd = model_axes(rig)
    names = list(rig.joint_names)
    out = []
    for side in ("left", "right"):
        for hinge, child, sign in HINGES:
            j, c = find_joint(names, hinge, side), find_joint(names, child, side)
            if j < 0 or c < 0:
                continue
            d = rig.rest_joints[c] - rig.rest_joints[j]
            d /= np.linalg.norm(d)
            want = sign * fwd - d * (sign * fwd @ d)
            axis = np.cross(d, want)
            out.append((j, axis / np.linalg.norm(axis)))
    return out


def hinge_penalty(rotvec: torch.Tensor, joints: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """rotvec (F, A, 3) local rotations; joints (H,) positions in A; axes (H, 3). Penalises rotation off the hinge
    axis and bending the wrong way or past ~160 degrees. Returns a scalar (sum over frames)."""
    r = rotvec[:, joints]  # (F, H, 3)
    along = (r * axes).sum(-1)
    off = r - along[..., None] * axes
    return (off ** 2).sum() + 10 * (torch.relu(-along) ** 2).sum() + 10 * (torch.relu(along - 2.8) ** 2).sum()
