"""Write-back with the real bpy module: motion -> Blender keys -> motion is lossless, edits are picked up, and
the result is written as .npz / .smpl."""

from __future__ import annotations

import numpy as np
import pytest
from addon_build_helpers import make_motion, make_toy_rig

bpy = pytest.importorskip("bpy")

from blender_addon.builders.common import assigned_fcurves  # noqa: E402
from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.builders.writeback import armature_motion, export_motion  # noqa: E402
from blender_addon.core.readers import SMPLX_JOINTS, read_motion  # noqa: E402
from blender_addon.core.rotations import rotvec_to_matrix  # noqa: E402


def _angle(a, b):
    """Geodesic angle (radians) between rotations given as axis-angle arrays (..., 3)."""
    Ra, Rb = rotvec_to_matrix(a), rotvec_to_matrix(b)
    cos = (np.trace(np.swapaxes(Ra, -1, -2) @ Rb, axis1=-2, axis2=-1) - 1) / 2
    return np.arccos(np.clip(cos, -1, 1))


def test_round_trip_is_lossless(empty_scene, toy_rig, tmp_path):
    motion = make_motion(toy_rig.joint_names, frames=60, expr_dim=3, scale=2.0)
    res = build_motion(toy_rig, motion, frame_start=10)
    back = armature_motion(res.armature)
    assert back.joint_names == toy_rig.joint_names and back.num_frames == 60 and back.fps == motion.fps
    assert _angle(back.rotvec, motion.rotvec).max() < 1e-5
    np.testing.assert_allclose(back.transl, motion.transl, atol=1e-5)
    np.testing.assert_allclose(back.expression, motion.expression, atol=1e-6)
    np.testing.assert_allclose(back.betas, motion.betas)
    path = export_motion(res.armature, tmp_path / "edited.npz")
    assert _angle(read_motion(path).rotvec, motion.rotvec).max() < 1e-5


def test_edits_in_blender_are_written_back(empty_scene, toy_rig):
    motion = make_motion(toy_rig.joint_names, frames=20)
    res = build_motion(toy_rig, motion)
    arm = bpy.data.objects[res.armature]
    fcurves = assigned_fcurves(arm)
    # rotate the knee by editing its keys: quaternion of 90 degrees about the bone's own y axis
    path = 'pose.bones["left_knee"].rotation_quaternion'
    new = np.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])
    for i in range(4):
        fc = fcurves.find(path, index=i)
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        co[1::2] = new[i]
        fc.keyframe_points.foreach_set("co", co)
        fc.update()
    # and thin out a root-location curve to a few keys: write-back evaluates it per frame
    loc = fcurves.find('pose.bones["pelvis"].location', index=2)
    for _ in range(10):
        loc.keyframe_points.remove(loc.keyframe_points[1])
    back = armature_motion(arm)
    j = toy_rig.joint_names.index("left_knee")
    B = toy_rig.rest_orient[j]
    expected = B @ rotvec_to_matrix(np.array([0.0, np.pi / 2, 0.0])) @ B.T
    np.testing.assert_allclose(rotvec_to_matrix(back.rotvec[:, j]), np.broadcast_to(expected, (20, 3, 3)), atol=1e-5)
    others = [k for k in range(toy_rig.num_joints) if k != j]
    assert _angle(back.rotvec[:, others], motion.rotvec[:, others]).max() < 1e-5
    assert back.num_frames == 20
    empty_scene.frame_set(5)
    assert abs(arm.pose.bones["pelvis"].location[2] - (back.transl[4] @ toy_rig.rest_orient[0])[2]) < 1e-5


def test_smplx_named_rig_exports_smpl_file(empty_scene, tmp_path):
    smplcodec = pytest.importorskip("smplcodec")
    rig = make_toy_rig(verts_per_bone=3)
    names = SMPLX_JOINTS[:10]  # the toy rig's 10 joints, renamed as SMPL-X body joints
    import dataclasses

    rig = dataclasses.replace(rig, joint_names=names, model="smplx")
    motion = make_motion(names, frames=8, model="smplx")
    res = build_motion(rig, motion)
    path = export_motion(res.armature, tmp_path / "take.smpl")
    codec = smplcodec.SMPLCodec.from_file(path)
    assert codec.frame_count == 8
    assert _angle(codec.full_pose[:, :10], motion.rotvec).max() < 1e-5
    assert np.all(codec.full_pose[:, 10:] == 0)


def test_camera_round_trip(empty_scene, toy_rig):
    motion = make_motion(toy_rig.joint_names, frames=12, camera=True)
    res = build_motion(toy_rig, motion)
    back = armature_motion(res.armature).camera
    c = motion.camera
    assert back.image_size == c.image_size
    np.testing.assert_allclose(back.K, c.K, atol=1e-3)  # pixels (lens is stored as float32 millimetres)
    np.testing.assert_allclose(back.R, c.R, atol=1e-5)
    np.testing.assert_allclose(back.t, c.t, atol=1e-5)
