"""A new motion for the avatar preview, made from any estimated motion: played backwards while the body turns
about the up axis — poses and views the avatar did not see in training."""

from __future__ import annotations

import dataclasses

import numpy as np

from blender_addon.core.motion import Motion
from blender_addon.core.rotations import matrix_to_rotvec, rotvec_to_matrix


def turning_reversed(motion: Motion, turn_rad: float = 0.8) -> Motion:
    """The motion reversed in time, its root rotated about the up axis by up to ``turn_rad`` (a slow turn) around
    the root's mean position; camera and shape are kept."""
    rotvec = motion.rotvec[::-1].copy()
    transl = motion.transl[::-1].copy()
    F = motion.num_frames
    up = np.array([0.0, 1.0, 0.0]) if motion.up_axis == "Y" else np.array([0.0, 0.0, 1.0])
    yaw = rotvec_to_matrix(np.outer(np.linspace(0.0, turn_rad, F), up))  # (F, 3, 3)
    rotvec[:, 0] = matrix_to_rotvec(yaw @ rotvec_to_matrix(rotvec[:, 0]))
    centre = transl.mean(0)
    transl = np.einsum("fab,fb->fa", yaw, transl - centre) + centre
    expr = None if motion.expression is None else motion.expression[::-1].copy()
    contact = None if motion.foot_contact is None else motion.foot_contact[::-1].copy()
    return dataclasses.replace(motion, rotvec=rotvec, transl=transl, expression=expr, foot_contact=contact,
                               confidence=None, metadata={**motion.metadata, "derived": "turning_reversed"})
