"""Motion -> bulk keyframes: pose-bone quaternions, root location, expression and pose-corrective weights.

Keys are written only with ``fcurves.new`` + ``keyframe_points.add(n)`` + ``foreach_set`` + ``update()``, on a
slotted action (Blender >= 4.4). Frame i of the motion lands on scene frame ``frame_start + i``.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.motion import Motion
from ..core.rigspec import RigSpec
from ..core.rotations import (
    matrix_to_quat,
    quat_continuity,
    quat_multiply,
    quat_to_matrix,
    rotvec_to_matrix,
    rotvec_to_quat,
)
from .armature import bone_rest_orient
from .common import Created, add_curves, new_action


def pose_bone_channels(rest_orient: np.ndarray, rotvec: np.ndarray, transl: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose-bone channels for a motion.

    rest_orient: (J, 3, 3) bone rest frames B_j; rotvec: (F, J, 3) local axis-angle, radians; transl (F, 3) m.
    Returns quaternions (F, J, 4) of B_j^T R_j B_j (as q_B^* q_R q_B), sign-continuous over frames, the root
    location B_0^T transl (F, 3), and the local rotation matrices R (F, J, 3, 3).
    """
    B = np.asarray(rest_orient, np.float64)
    q_r = rotvec_to_quat(rotvec)
    q_b = matrix_to_quat(B)[None]
    q_b_conj = q_b * np.array([1.0, -1.0, -1.0, -1.0])
    quats = quat_continuity(quat_multiply(quat_multiply(q_b_conj, q_r), q_b), axis=0)
    loc = np.asarray(transl, np.float64) @ B[0]
    return quats, loc, quat_to_matrix(q_r)


def expression_joint_offsets(rig: RigSpec, expression: np.ndarray) -> np.ndarray | None:
    """Rest-joint offsets delta (F, J, 3) metres that expression coefficients (F, E) cause (SMPL-X / FLAME regress
    joints from the expressed mesh), or None when the rig's expressions move no joint."""
    E = min(expression.shape[1], len(rig.expr_names))
    if not E or rig.expr_joint_dirs.size == 0:
        return None
    dirs = np.asarray(rig.expr_joint_dirs[:E], np.float64)
    if np.abs(dirs).max() < 1e-9:
        return None
    return np.tensordot(np.asarray(expression[:, :E], np.float64), dirs, axes=1)


def expression_bone_locations(B: np.ndarray, R: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Pose-bone locations (F, J, 3) l_j = B_j^T (I - R_j) delta_j that make the skinned mesh exact.

    The bones rest at the joints without expression; the model's joint j rests at r_j + delta_j. Moving bone j's
    head by G_p B_j l_j turns Blender's skinning G_j (v - r_j) + head_j into the model's
    G_j (v - r_j - delta_j) + h_j (the bone head then sits at h_j - G_j delta_j)."""
    offs = delta - np.einsum("fjab,fjb->fja", R, delta)
    return np.einsum("jba,fjb->fja", B, offs)


def animate_armature(ob: bpy.types.Object, rig: RigSpec, motion: Motion, frame_start: int, created: Created,
                     interpolation: str | None = None) -> tuple[str, np.ndarray]:
    """Key every pose bone's rotation_quaternion and the root's location (plus, where expressions move joints,
    the location of the bones they move). Returns (action name, R (F, J, 3, 3)).

    B_j is read back from the built bones (float32 in Blender), so keys match exactly what Blender evaluates and
    write-back (which reads the same bones) is lossless."""
    B = bone_rest_orient(ob, rig.joint_names)
    quats, loc, R = pose_bone_channels(B, motion.rotvec, motion.transl)
    bone_locs = np.zeros((motion.num_frames, rig.num_joints, 3))
    delta = expression_joint_offsets(rig, motion.expression_or_zeros())
    if delta is not None:
        bone_locs = expression_bone_locations(B, R, delta)
    moving = np.abs(bone_locs).max(axis=(0, 2)) > 1e-7
    frames = frame_start + np.arange(motion.num_frames, dtype=np.float64)
    action, fcurves = new_action(ob, f"{ob.name}Action", created)
    for j, jname in enumerate(rig.joint_names):
        base = f'pose.bones["{bpy.utils.escape_identifier(jname)}"]'
        if j == 0:
            add_curves(fcurves, f"{base}.location", frames, loc + bone_locs[:, 0], jname, interpolation)
        elif moving[j]:
            add_curves(fcurves, f"{base}.location", frames, bone_locs[:, j], jname, interpolation)
        add_curves(fcurves, f"{base}.rotation_quaternion", frames, quats[:, j], jname, interpolation)
    return action.name, R


def animate_shape_keys(ob: bpy.types.Object, rig: RigSpec, motion: Motion, frame_start: int, created: Created,
                       expr_names: list[str], pose_names: list[str], rotmats: np.ndarray | None = None,
                       interpolation: str | None = None) -> str | None:
    """Key expression values (motion.expression) and pose-corrective weights (RigSpec.pose_feature) per frame
    on the mesh's shape keys. Returns the action name, or None when there is nothing to key."""
    expr = motion.expression_or_zeros()
    E = min(len(expr_names), expr.shape[1])
    if not E and not pose_names:
        return None
    frames = frame_start + np.arange(motion.num_frames, dtype=np.float64)
    key = ob.data.shape_keys
    action, fcurves = new_action(key, f"{ob.name}ShapeAction", created)
    for k in range(E):
        path = f'key_blocks["{bpy.utils.escape_identifier(expr_names[k])}"].value'
        add_curves(fcurves, path, frames, expr[:, k], "Expression", interpolation)
    if pose_names:
        R = rotvec_to_matrix(motion.rotvec) if rotmats is None else rotmats
        feat = rig.pose_feature(R)
        for k, kname in enumerate(pose_names):
            path = f'key_blocks["{bpy.utils.escape_identifier(kname)}"].value'
            add_curves(fcurves, path, frames, feat[:, k], "Pose correctives", interpolation)
    return action.name
