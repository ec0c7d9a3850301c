"""The body record (``blender_addon/body_record.py``) with the real bpy module: the builders write it, its links
survive renames and a save/reload, an older-format .blend migrates, and a build failing at any step leaves the
file exactly as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest
from addon_build_helpers import make_motion

bpy = pytest.importorskip("bpy")

from blender_addon import body_record  # noqa: E402
from blender_addon.builders import scene as scene_builder  # noqa: E402
from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.builders.writeback import armature_motion  # noqa: E402

DATA = ("objects", "meshes", "armatures", "actions", "cameras", "movieclips", "images", "shape_keys")


def _counts() -> dict[str, int]:
    return {name: len(getattr(bpy.data, name)) for name in DATA}


def _scene_settings(scene) -> tuple:
    r = scene.render
    return (r.fps, r.fps_base, scene.frame_start, scene.frame_end, scene.camera, r.resolution_x, r.resolution_y)


def test_builders_write_one_record_with_pointer_links(empty_scene, toy_rig_path, jump_video, tmp_path):
    motion = make_motion(bpy_rig_names(toy_rig_path), frames=5, camera=True)
    motion_path = motion.save(tmp_path / "walk.npz")
    res = build_motion(toy_rig_path, motion_path, name="Walker", video=jump_video)
    arm = bpy.data.objects[res.armature]
    rec = body_record.record(arm)
    assert rec.record_version == body_record.RECORD_VERSION and rec.role == "ARMATURE" and rec.model == "toy"
    assert (rec.axes, rec.fps, rec.gender) == ("Y", 30.0, "neutral")
    assert rec.rig_path == str(toy_rig_path.resolve()) and rec.motion_path == str(motion_path.resolve())
    assert rec.video_path == str(jump_video.resolve())
    np.testing.assert_allclose(body_record.betas(arm), motion.betas, atol=1e-6)
    assert rec.mesh.name == res.mesh and rec.camera.name == res.camera
    for ob in (rec.mesh, rec.camera):  # mesh and camera point back at their body
        assert body_record.find_body(ob) == arm
    rec.mesh.name, rec.camera.name = "RenamedMesh", "RenamedCamera"  # pointers, not names: renames keep links
    assert body_record.body_mesh(arm).name == "RenamedMesh" and body_record.body_camera(arm).name == "RenamedCamera"
    assert not [k for k in arm.keys() if k.startswith("smplpix_")]  # no JSON custom properties any more


def bpy_rig_names(rig_path):
    from blender_addon.core.rigspec import RigSpec

    return RigSpec.load(rig_path).joint_names


def _write_old_format(res) -> None:
    """Turn a fresh build into what the add-on wrote before the record: ``smplpix_*`` JSON custom properties linked
    by object name, and ``Object.smplpix`` holding only role/model/paths (written by ``tag_built``)."""
    arm, mesh, cam = (bpy.data.objects[n] for n in (res.armature, res.mesh, res.camera))
    rec = arm.smplpix
    old = {"model": rec.model, "gender": rec.gender, "axes": rec.axes, "fps": float(rec.fps), "mesh": mesh.name,
           "camera": cam.name, "betas": json.dumps(body_record.betas(arm)),
           "joint_names": json.dumps(list(body_record.joint_names(arm)))}
    keys = json.dumps({g: body_record.shape_key_names(arm, g) for g in body_record.SHAPE_GROUPS})
    paths = {"rig_path": "/old/rig.npz", "motion_path": "/old/motion.npz", "video_path": "/old/video.mp4",
             "avatar_path": "/old/checkpoint.pt"}
    for ob, role in ((arm, "ARMATURE"), (mesh, "MESH"), (cam, "CAMERA")):
        ob.property_unset("smplpix")
        ob.smplpix.role, ob.smplpix.model = role, old["model"]
        for k, v in paths.items():
            setattr(ob.smplpix, k, v if (role == "ARMATURE" or k != "avatar_path") else "")
    for k, v in old.items():
        arm["smplpix_" + k] = v
    mesh["smplpix_shape_keys"] = keys
    cam["smplpix_image_size"] = [1400, 900]


@pytest.mark.parametrize("how", ["load_post", "on_access"])
def test_older_blend_file_migrates(empty_scene, toy_rig, tmp_path, how):
    motion = make_motion(toy_rig.joint_names, frames=6, camera=True, expr_dim=3)
    res = build_motion(toy_rig, motion, name="Old")
    before = armature_motion(res.armature)
    _write_old_format(res)
    raw = bpy.data.objects[res.armature].smplpix  # read without the accessor (which would migrate)
    assert raw.camera is None and raw.mesh is None and raw.record_version == 0  # the old file has no pointers
    blend = tmp_path / "old.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    if how == "load_post":
        body_record.register_handlers()
    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    finally:
        body_record.unregister_handlers()
    arm = bpy.data.objects[res.armature]
    if how == "load_post":  # the handler migrated it: no accessor has run yet
        assert arm.smplpix.record_version == body_record.RECORD_VERSION and "smplpix_mesh" not in arm.keys()
    rec = body_record.record(arm)
    assert rec.record_version == body_record.RECORD_VERSION and rec.addon_version
    assert rec.mesh.name == res.mesh and rec.camera.name == res.camera and rec.role == "ARMATURE"
    assert (rec.rig_path, rec.motion_path, rec.video_path, rec.avatar_path) == (
        "/old/rig.npz", "/old/motion.npz", "/old/video.mp4", "/old/checkpoint.pt")
    assert body_record.shape_key_names(rec.mesh, "expression") == list(toy_rig.expr_names)
    assert not [k for ob in bpy.data.objects for k in ob.keys() if k.startswith("smplpix_")]
    after = armature_motion(arm)  # write-back reads the migrated record: the same motion, camera included
    np.testing.assert_allclose(after.rotvec, before.rotvec, atol=1e-6)
    np.testing.assert_allclose(after.camera.t, before.camera.t, atol=1e-5)
    np.testing.assert_allclose(after.betas, before.betas, atol=1e-6)
    assert after.camera.image_size == before.camera.image_size == (1400, 900)


_STEPS = ("build_armature", "build_skinned_mesh", "add_rig_shape_keys", "animate_armature", "animate_shape_keys",
          "build_camera", "_set_scene")


@pytest.mark.parametrize("step", _STEPS)
def test_build_failing_at_any_step_leaves_the_file_as_it_was(empty_scene, toy_rig, jump_video, monkeypatch, step):
    """Fault injection: each step of build_motion runs, then raises; nothing it made may stay behind."""
    build_motion(toy_rig, make_motion(toy_rig.joint_names, frames=3), name="Existing")  # the user's own scene
    before, settings = _counts(), _scene_settings(empty_scene)
    real = getattr(scene_builder, step)

    def step_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError(f"injected failure after {step}")

    monkeypatch.setattr(scene_builder, step, step_then_fail)
    motion = make_motion(toy_rig.joint_names, frames=4, fps=24.0, camera=True, expr_dim=3)
    with pytest.raises(RuntimeError, match="injected"):
        build_motion(toy_rig, motion, name="Doomed", video=jump_video)
    assert _counts() == before and _scene_settings(empty_scene) == settings
    assert bpy.data.objects.get("Existing") is not None
