"""Joint name tables of the SMPL family (the smplx package's order) and name-based joint remapping."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..motion import Motion, MotionError

_BODY = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
_FINGERS = ("index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1", "pinky2", "pinky3",
            "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3")
_HANDS = tuple(f"left_{f}" for f in _FINGERS) + tuple(f"right_{f}" for f in _FINGERS)

SMPL_JOINTS = _BODY + ("left_hand", "right_hand")  # 24
SMPLH_JOINTS = _BODY + _HANDS  # 52
SMPLX_JOINTS = _BODY + ("jaw", "left_eye_smplhf", "right_eye_smplhf") + _HANDS  # 55

JOINTS_BY_MODEL = {"smpl": SMPL_JOINTS, "smplh": SMPLH_JOINTS, "smplx": SMPLX_JOINTS}


def canonical(name: str) -> str:
    """Name used for matching: lower case, without smplx's ``_smplhf`` suffix."""
    return name.lower().removesuffix("_smplhf")


def remap_motion(motion: Motion, joint_names: tuple[str, ...] | list[str], model: str | None = None,
                 min_fraction: float = 0.3) -> Motion:
    """Reorder ``motion``'s joints to ``joint_names`` by name; joints it lacks get the identity rotation.

    Raises MotionError when the root is missing or fewer than ``min_fraction`` of the target joints match
    (a motion of another body model).
    """
    joint_names = tuple(joint_names)
    if tuple(motion.joint_names) == joint_names:
        return motion
    src = {canonical(n): i for i, n in enumerate(motion.joint_names)}
    idx = np.array([src.get(canonical(n), -1) for n in joint_names])
    matched = int(np.sum(idx >= 0))
    if idx[0] < 0 or matched < min_fraction * len(joint_names):
        raise MotionError(
            f"motion joints ({motion.model}, {len(motion.joint_names)} joints) do not match the rig's "
            f"{len(joint_names)} joints by name ({matched} match, root {'found' if idx[0] >= 0 else 'missing'}); "
            "build it on a rig of the same body-model family.")
    rotvec = np.zeros((motion.num_frames, len(joint_names), 3))
    rotvec[:, idx >= 0] = np.asarray(motion.rotvec, np.float64)[:, idx[idx >= 0]]
    missing = [n for n, i in zip(joint_names, idx, strict=False) if i < 0]
    return dataclasses.replace(motion, joint_names=joint_names, rotvec=rotvec, model=model or motion.model,
                               metadata={**motion.metadata, "joints_without_data": missing})
