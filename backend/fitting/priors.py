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


def hinge_axes(rig: RigSpec) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(joint index, unit hinge axis, unit bone direction) per hinge joint: rotating about +axis bends the limb the
    natural way; rotation about the bone direction is the segment's twist (forearm pronation in SMPL models)."""
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
            out.append((j, axis / np.linalg.norm(axis), d))
    return out


def hinge_penalty(rotvec: torch.Tensor, joints: torch.Tensor, axes: torch.Tensor, bones: torch.Tensor,
                  twist: float = 0.1) -> torch.Tensor:
    """rotvec (F, A, 3) local rotations; joints (H,) positions in A; axes, bones (H, 3) unit hinge axes and bone
    directions. Penalises sideways bending (off both), twist lightly, and bending the wrong way or past ~160
    degrees. Returns a scalar (sum over frames)."""
    r = rotvec[:, joints]  # (F, H, 3)
    along = (r * axes).sum(-1)
    spin = (r * bones).sum(-1)
    off = r - along[..., None] * axes - spin[..., None] * bones
    return ((off ** 2).sum() + twist * (spin ** 2).sum() + 10 * (torch.relu(-along) ** 2).sum()
            + 10 * (torch.relu(along - 2.8) ** 2).sum())


def prior_mean(rig: RigSpec, arm_drop_deg: float = 50.0) -> np.ndarray:
    """(J, 3) rotation vectors the pose prior pulls towards: the rest pose, except that upper arms hang
    ``arm_drop_deg`` below horizontal (a relaxed stance) whatever the model's rest pose (T-pose SMPL family,
    A-pose Anny)."""
    from blender_addon.core.rotations import matrix_to_quat

    left, up, _ = model_axes(rig)
    names = list(rig.joint_names)
    mean = np.zeros((rig.num_joints, 3))
    a = np.radians(arm_drop_deg)
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        sh = find_joint(names, ("upperarm01{a}", "{s}_shoulder"), side)
        el = find_joint(names, ("lowerarm01{a}", "{s}_elbow"), side)
        if sh < 0 or el < 0:
            continue
        d = rig.rest_joints[el] - rig.rest_joints[sh]
        d /= np.linalg.norm(d)
        want = sgn * left * np.cos(a) - up * np.sin(a)
        axis = np.cross(d, want)
        s_, c_ = np.linalg.norm(axis), float(d @ want)
        if s_ < 1e-6:
            continue
        # The parent chain is at rest in the prior's pose, so the local rotation equals the world swing.
        rv = axis / s_ * np.arctan2(s_, c_)
        mean[sh] = rv
    del matrix_to_quat
    return mean
