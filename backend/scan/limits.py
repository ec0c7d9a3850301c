"""Joint limits of a scan fit, at a fixed weight (the pose prior anneals to almost nothing in the fine stages, so
on its own it lets helper joints take over the work of the main ones, e.g. a twist segment bending the arm in
the middle or the wrist spinning the hand).

Weights are in the data term's units (cm^2) per rad^2: 1 means a 0.1 rad rotation costs as much as 1 mm of
mean residual squared."""

from __future__ import annotations

import numpy as np
import torch

from blender_addon.core.rigspec import RigSpec

TWIST = "02."  # Anny's twist segments (upperarm02, lowerarm02, upperleg02, lowerleg02): they turn about the bone
TWIST_OFF = 30.0  # bending a twist segment off its bone axis
# name fragment -> weight on |rotvec|^2 of joints a scan resolves poorly (first match wins)
HELD = (("pelvis", 10.0), ("clavicle", 3.0), ("shoulder01", 2.0), ("wrist", 1.0), ("metacarpal", 10.0))


@torch.no_grad()
def joint_limits(rig: RigSpec, active_index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For the active joints but the root (``active_index[1:]`` of the rig's joints): weights (A-1,) of
    :data:`HELD`, and the twist segments' rows (T,) in that list with their unit bone directions (T, 3) in the
    rig's rest axes (the frame the local rotation vectors live in)."""
    names = [rig.joint_names[j] for j in active_index[1:]]
    weight = np.array([next((w for frag, w in HELD if frag in n), 0.0) for n in names], np.float32)
    rows = [i for i, n in enumerate(names) if TWIST in n]
    joints = active_index[1:][rows]
    d = rig.bone_tails[joints] - rig.rest_joints[joints]
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    return (torch.as_tensor(weight), torch.as_tensor(rows, dtype=torch.long),
            torch.as_tensor(d.reshape(-1, 3), dtype=torch.float32))


def limit_penalty(pose: torch.Tensor, weight: torch.Tensor, twist_rows: torch.Tensor, twist_dir: torch.Tensor
                  ) -> torch.Tensor:
    """pose (A-1, 3) local rotation vectors (rad); returns a scalar in cm^2."""
    held = (weight * (pose ** 2).sum(-1)).sum()
    if not len(twist_rows):
        return held
    r = pose[twist_rows]
    off = r - (r * twist_dir).sum(-1, keepdim=True) * twist_dir
    return held + TWIST_OFF * (off ** 2).sum()
