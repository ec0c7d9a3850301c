"""Animated builds with the real bpy module: FK and skinning against the RigSpec's numpy maths, fps resampling,
slotted actions, the camera and its video plate, and cleanup on error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from addon_build_helpers import evaluated_local_verts, make_motion, world_heads

bpy = pytest.importorskip("bpy")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

from blender_addon.builders.common import world_rotation  # noqa: E402
from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.core.rotations import rotvec_to_matrix  # noqa: E402


def _reference(rig, motion):
    R = rotvec_to_matrix(motion.rotvec)
    _, joints = rig.rest_state(motion.betas)
    return R, rig.forward_kinematics(R, motion.transl, joints)[1]


def test_joint_positions_match_forward_kinematics(empty_scene, toy_rig):
    motion = make_motion(toy_rig.joint_names, frames=100, scale=1.2)
    res = build_motion(toy_rig, motion, correctives=False)
    arm = bpy.data.objects[res.armature]
    _, heads = _reference(toy_rig, motion)
    W = world_rotation("Y")
    err = 0.0
    for f in range(motion.num_frames):
        empty_scene.frame_set(res.frame_start + f)
        err = max(err, np.abs(world_heads(arm, toy_rig.joint_names) - heads[f] @ W.T).max())
    assert err < 1e-3
    adt = arm.animation_data
    assert adt.action.name in res.actions
    if hasattr(adt, "action_slot"):
        assert adt.action_slot is not None and adt.action.is_action_layered
    assert (empty_scene.frame_start, empty_scene.frame_end) == (1, 100)


@pytest.mark.parametrize("correctives, tol", [(False, 1e-3), (True, 2e-3)])
def test_evaluated_mesh_matches_skinning(empty_scene, toy_rig, correctives, tol):
    motion = make_motion(toy_rig.joint_names, frames=12, expr_dim=3, scale=1.0)
    res = build_motion(toy_rig, motion, correctives=correctives)
    mesh = bpy.data.objects[res.mesh]
    R, _ = _reference(toy_rig, motion)
    worst, moved = 0.0, 0.0
    for f in range(motion.num_frames):
        empty_scene.frame_set(res.frame_start + f)
        ref, _ = toy_rig.skin(R[f:f + 1], motion.transl[f:f + 1], motion.betas, motion.expression[f],
                              pose_correctives=correctives)
        got = evaluated_local_verts(mesh)
        worst = max(worst, np.abs(got - ref[0]).max())
        moved = max(moved, np.abs(got - toy_rig.template).max())
    assert worst < tol
    assert moved > 0.05  # the comparison is about a really deformed mesh
    keyed = mesh.data.shape_keys.animation_data.action
    assert keyed.name in res.actions


def test_corrective_weights_follow_pose_feature(empty_scene, toy_rig):
    motion = make_motion(toy_rig.joint_names, frames=5)
    res = build_motion(toy_rig, motion)
    blocks = bpy.data.objects[res.mesh].data.shape_keys.key_blocks
    feat = toy_rig.pose_feature(rotvec_to_matrix(motion.rotvec))
    empty_scene.frame_set(res.frame_start + 3)
    got = np.array([blocks[n].value for n in toy_rig.pose_names])
    np.testing.assert_allclose(got, feat[3], atol=1e-6)


@pytest.mark.parametrize("src, dst", [(60.0, 24.0), (50.0, 30.0), (24.0, 60.0)])
def test_fps_resampling_keeps_duration_and_poses(empty_scene, toy_rig, src, dst):
    motion = make_motion(toy_rig.joint_names, frames=int(src * 2) + 1, fps=src, scale=0.8)
    res = build_motion(toy_rig, motion, fps=dst, correctives=False)
    frames = res.frame_end - res.frame_start + 1
    assert abs(frames / res.fps - motion.duration) <= 1.0 / dst
    assert abs(res.fps - dst) < 1e-5 and abs(empty_scene.render.fps / empty_scene.render.fps_base - dst) < 1e-5
    # whole seconds fall on frames of both rates: the pose there must be the source pose
    arm = bpy.data.objects[res.armature]
    _, heads = _reference(toy_rig, motion)
    for second in (0, 1):
        empty_scene.frame_set(res.frame_start + int(second * dst))
        got = world_heads(arm, toy_rig.joint_names)
        np.testing.assert_allclose(got, heads[int(second * src)] @ world_rotation("Y").T, atol=1e-3)


def test_ntsc_rate_sets_fps_base(empty_scene, toy_rig):
    motion = make_motion(toy_rig.joint_names, frames=10, fps=30000 / 1001)
    res = build_motion(toy_rig, motion)
    r = empty_scene.render
    assert r.fps == 30 and abs(r.fps / r.fps_base - 30000 / 1001) < 1e-5 and res.frame_end == 10


def test_camera_reprojects_like_opencv(empty_scene, toy_rig):
    motion = make_motion(toy_rig.joint_names, frames=6, camera=True)
    res = build_motion(toy_rig, motion)
    cam = bpy.data.objects[res.camera]
    assert empty_scene.camera == cam
    w, h = motion.camera.image_size
    assert (empty_scene.render.resolution_x, empty_scene.render.resolution_y) == (w, h)
    W = world_rotation("Y")
    _, heads = _reference(toy_rig, motion)
    for f in (0, 5):
        empty_scene.frame_set(res.frame_start + f)
        c = motion.camera
        for x in heads[f][::3]:
            p = c.K[f] @ (c.R[f] @ x + c.t[f])
            px_cv = p[:2] / p[2]
            ndc = world_to_camera_view(empty_scene, cam, Vector((W @ x).tolist()))
            px_bl = np.array([ndc.x * w, (1.0 - ndc.y) * h])
            np.testing.assert_allclose(px_bl, px_cv, atol=0.5)
    assert cam.data.animation_data is not None  # focal length varies in this motion, so it is keyed


def test_video_background(empty_scene, toy_rig, jump_video):
    motion = make_motion(toy_rig.joint_names, frames=4, camera=True)
    res = build_motion(toy_rig, motion, video=jump_video)
    cam = bpy.data.objects[res.camera].data
    assert cam.show_background_images and cam.background_images[0].source == "MOVIE_CLIP"
    assert cam.background_images[0].clip.size[:] == (1768, 994)


def test_failed_build_leaves_nothing(empty_scene, toy_rig, tmp_path):
    motion = make_motion(toy_rig.joint_names, frames=4, camera=True)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        build_motion(toy_rig, motion, video=tmp_path / "missing.mp4")
    for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.armatures, bpy.data.actions, bpy.data.cameras,
                 bpy.data.shape_keys, bpy.data.movieclips):
        assert len(coll) == 0, list(coll)


def test_world_axes_of_motion(empty_scene, toy_rig):
    z_up = make_motion(toy_rig.joint_names, frames=3, up_axis="Z")
    arm = bpy.data.objects[build_motion(toy_rig, z_up, name="Z").armature]
    np.testing.assert_allclose(np.array(arm.matrix_world), np.eye(4), atol=1e-7)
    cv = dataclasses.replace(z_up, metadata={"world_axes": "opencv"})
    arm = bpy.data.objects[build_motion(toy_rig, cv, name="CV").armature]
    # OpenCV's y points down: it must become Blender's -Z
    np.testing.assert_allclose(np.array(arm.matrix_world)[:3, :3] @ [0, 1, 0], [0, 0, -1], atol=1e-7)


def test_motion_of_other_joints_is_refused(empty_scene, toy_rig):
    motion = make_motion(tuple(f"bone{i}" for i in range(10)), frames=3)
    with pytest.raises(ValueError, match="do not match"):
        build_motion(toy_rig, motion)
    assert len(bpy.data.objects) == 0


def test_muting_correctives_keeps_their_keys(empty_scene, toy_rig):
    from blender_addon.builders.shapekeys import set_correctives_muted

    motion = make_motion(toy_rig.joint_names, frames=6, expr_dim=3, scale=1.0)
    res = build_motion(toy_rig, motion)
    mesh = bpy.data.objects[res.mesh]
    R = rotvec_to_matrix(motion.rotvec)
    assert set_correctives_muted(mesh, True) == len(toy_rig.pose_names)
    empty_scene.frame_set(res.frame_start + 4)
    plain, _ = toy_rig.skin(R[4:5], motion.transl[4:5], motion.betas, motion.expression[4], pose_correctives=False)
    np.testing.assert_allclose(evaluated_local_verts(mesh), plain[0], atol=1e-3)
    blocks = mesh.data.shape_keys.key_blocks
    assert not any(blocks[n].mute for n in toy_rig.expr_names)
    set_correctives_muted(mesh, False)
    empty_scene.frame_set(res.frame_start + 4)
    full, _ = toy_rig.skin(R[4:5], motion.transl[4:5], motion.betas, motion.expression[4])
    np.testing.assert_allclose(evaluated_local_verts(mesh), full[0], atol=2e-3)
    assert np.abs(full - plain).max() > 5e-3  # the correctives matter in this pose


def test_apply_motion_to_a_built_body(empty_scene, toy_rig, monkeypatch):
    from blender_addon.builders.scene import apply_motion, build_body

    res = build_body(toy_rig, name="Toy")
    motion = make_motion(toy_rig.joint_names, frames=15, fps=25.0, expr_dim=3)
    motion = dataclasses.replace(motion, betas=np.zeros(0))  # the body keeps the shape it was built with
    applied = apply_motion(toy_rig, res.armature, motion)
    assert (applied.frame_start, applied.frame_end) == (1, 15) and abs(applied.fps - 25.0) < 1e-5
    arm = bpy.data.objects[res.armature]
    _, heads = _reference(toy_rig, motion)
    empty_scene.frame_set(9)
    np.testing.assert_allclose(world_heads(arm, toy_rig.joint_names), heads[8] @ world_rotation("Y").T, atol=1e-3)
    second = apply_motion(toy_rig, res.armature, make_motion(toy_rig.joint_names, frames=5, seed=4))
    assert arm.animation_data.action.name == second.actions[0] != applied.actions[0]
    with pytest.raises(ValueError, match="no armature"):
        apply_motion(toy_rig, "Nobody", motion)
    bad = make_motion(tuple(f"x{i}" for i in range(10)), frames=3)
    with pytest.raises(ValueError, match="do not match"):
        apply_motion(toy_rig, res.armature, bad)
    # a failure half-way restores the previous action and leaves no new one behind
    import blender_addon.builders.scene as scene_mod

    def broken(*args, **kwargs):
        raise RuntimeError("shape keys failed")

    monkeypatch.setattr(scene_mod, "animate_shape_keys", broken)
    n_actions = len(bpy.data.actions)
    with pytest.raises(RuntimeError, match="shape keys failed"):
        apply_motion(toy_rig, res.armature, motion)
    assert arm.animation_data.action.name == second.actions[0] and len(bpy.data.actions) == n_actions
