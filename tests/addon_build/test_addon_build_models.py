"""Builds of the real exported RigSpecs (Anny, and SMPL-X from the synthetic model files) with the real bpy
module: joint positions over 100 random frames match RigSpec.forward_kinematics, the evaluated mesh matches
RigSpec.skin, and the write-back round trip is lossless."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from addon_build_helpers import evaluated_local_verts, world_heads

bpy = pytest.importorskip("bpy")

from blender_addon import body_record  # noqa: E402
from blender_addon.builders.common import world_rotation  # noqa: E402
from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.builders.writeback import armature_motion  # noqa: E402
from blender_addon.core.motion import Motion  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402
from blender_addon.core.rotations import rotvec_to_matrix  # noqa: E402


@pytest.fixture(scope="module")
def anny_rig(anny_rigspec_path):
    return RigSpec.load(anny_rigspec_path)


@pytest.fixture(scope="module")
def smplx_rig(synthetic_model_dir):
    pytest.importorskip("torch")
    from backend.bodymodels import load_body_model

    return load_body_model("smplx", model_dir=synthetic_model_dir, num_betas=10, num_expression=10).rig_spec()


def _motion(rig: RigSpec, frames: int, seed: int, scale: float) -> Motion:
    rng = np.random.default_rng(seed)
    lo, hi = (rig.shape_range[:, 0], rig.shape_range[:, 1]) if len(rig.shape_names) else (0.0, 0.0)
    betas = rng.uniform(lo, hi) if rig.model == "anny" else rng.normal(size=len(rig.shape_names))
    return Motion(model=rig.model, fps=30.0, joint_names=rig.joint_names,
                  rotvec=rng.normal(scale=scale, size=(frames, rig.num_joints, 3)),
                  transl=rng.normal(scale=0.3, size=(frames, 3)), betas=betas, up_axis=rig.up_axis)


def _check_fk(scene, rig, motion, res):
    arm = bpy.data.objects[res.armature]
    _, joints = rig.rest_state(motion.betas)
    _, heads = rig.forward_kinematics(rotvec_to_matrix(motion.rotvec), motion.transl, joints)
    W = world_rotation(rig.up_axis)
    worst = 0.0
    for f in range(motion.num_frames):
        scene.frame_set(res.frame_start + f)
        worst = max(worst, np.abs(world_heads(arm, rig.joint_names) - heads[f] @ W.T).max())
    assert worst < 1e-3


def _check_skin(scene, rig, motion, res, frames, correctives, tol):
    mesh = bpy.data.objects[res.mesh]
    R = rotvec_to_matrix(motion.rotvec)
    expr = motion.expression_or_zeros()
    for f in frames:
        scene.frame_set(res.frame_start + f)
        ref, _ = rig.skin(R[f:f + 1], motion.transl[f:f + 1], motion.betas, expr[f],
                          pose_correctives=correctives)
        assert np.abs(evaluated_local_verts(mesh) - ref[0]).max() < tol


@pytest.mark.slow  # the first Anny export (empty cache) takes minutes
def test_anny_build_matches_rigspec(empty_scene, anny_rig):
    assert anny_rig.up_axis == "Z"
    motion = _motion(anny_rig, 100, seed=5, scale=0.35)
    res = build_motion(anny_rig, motion)
    arm = bpy.data.objects[res.armature]
    np.testing.assert_allclose(np.array(arm.matrix_world), np.eye(4), atol=1e-7)
    keys = bpy.data.objects[res.mesh].data.shape_keys.key_blocks
    assert set(anny_rig.expr_names) <= set(keys.keys()) and "jawOpen" in keys
    _check_fk(empty_scene, anny_rig, motion, res)
    _check_skin(empty_scene, anny_rig, motion, res, (0, 37, 99), correctives=False, tol=1e-3)
    back = armature_motion(arm)
    assert np.abs(rotvec_to_matrix(back.rotvec) - rotvec_to_matrix(motion.rotvec)).max() < 1e-5


@pytest.mark.parametrize("correctives, tol", [(False, 1e-3), (True, 2e-3)])
def test_smplx_build_matches_rigspec(empty_scene, smplx_rig, correctives, tol):
    assert smplx_rig.up_axis == "Y" and len(smplx_rig.pose_names) == 9 * 54
    motion = _motion(smplx_rig, 100, seed=6, scale=0.3)
    res = build_motion(smplx_rig, motion, correctives=correctives)
    keys = bpy.data.objects[res.mesh].data.shape_keys.key_blocks.keys()
    assert keys[1:4] == ["Shape000", "Shape001", "Shape002"] and "Exp009" in keys
    assert ("Pose485" in keys) == correctives
    if correctives:
        _check_fk(empty_scene, smplx_rig, motion, res)
    _check_skin(empty_scene, smplx_rig, motion, res, (0, 50, 99), correctives=correctives, tol=tol)


def test_amass_smplh_motion_on_smplx_rig(empty_scene, smplx_rig, tmp_path):
    rng = np.random.default_rng(8)
    F = 20
    poses, trans = rng.normal(scale=0.3, size=(F, 156)), rng.normal(scale=0.2, size=(F, 3))
    path = tmp_path / "amass_smplh.npz"
    np.savez(path, poses=poses, trans=trans, betas=rng.normal(size=16), mocap_framerate=np.array(60.0),
             gender=np.array("neutral"))
    res = build_motion(smplx_rig, path, correctives=False)
    arm = bpy.data.objects[res.armature]
    np.testing.assert_allclose(np.array(arm.matrix_world), np.eye(4), atol=1e-7)  # AMASS worlds are Z-up
    # SMPL-H's 52 joints by name onto SMPL-X's 55: jaw and eyes stay at rest
    rotvec = np.zeros((F, 55, 3))
    src = poses.reshape(F, 52, 3)
    rotvec[:, :22], rotvec[:, 25:] = src[:, :22], src[:, 22:]
    betas = np.asarray(body_record.betas(arm))
    assert len(betas) == len(smplx_rig.shape_names)  # AMASS's 16 betas, cut to the rig's 10
    _, joints = smplx_rig.rest_state(betas)
    _, heads = smplx_rig.forward_kinematics(rotvec_to_matrix(rotvec), trans, joints)
    for f in (0, 11, 19):
        empty_scene.frame_set(res.frame_start + f)
        np.testing.assert_allclose(world_heads(arm, smplx_rig.joint_names), heads[f], atol=1e-3)
    assert abs(empty_scene.render.fps / empty_scene.render.fps_base - 60.0) < 1e-6


def test_smplx_expressions_that_move_joints(empty_scene, smplx_rig):
    """SMPL-X regresses joints from the expressed mesh: the build keys bone offsets so the mesh stays exact."""
    assert np.abs(smplx_rig.expr_joint_dirs).max() > 1e-3  # the case under test
    motion = _motion(smplx_rig, 10, seed=9, scale=0.3)
    rng = np.random.default_rng(10)
    motion = dataclasses.replace(motion, expression=rng.normal(scale=1.0, size=(10, len(smplx_rig.expr_names))))
    res = build_motion(smplx_rig, motion, correctives=True)
    _check_skin(empty_scene, smplx_rig, motion, res, (0, 4, 9), correctives=True, tol=2e-3)
    back = armature_motion(res.armature)
    assert np.abs(rotvec_to_matrix(back.rotvec) - rotvec_to_matrix(motion.rotvec)).max() < 1e-5
    np.testing.assert_allclose(back.transl, motion.transl, atol=1e-5)
    np.testing.assert_allclose(back.expression, motion.expression, atol=1e-5)
