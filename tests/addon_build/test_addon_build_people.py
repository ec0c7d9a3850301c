"""Several people of one take in Blender: one body per person sharing one camera and plate (monocular), or one
body in world coordinates with one camera per calibrated view (multi-camera)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from addon_build_helpers import make_motion, world_heads

bpy = pytest.importorskip("bpy")


def _people(toy_rig):
    a = make_motion(toy_rig.joint_names, frames=20, seed=1, camera=True)
    b = make_motion(toy_rig.joint_names, frames=12, seed=2, camera=True)
    a = dataclasses.replace(a, metadata={"frame_start": 0, "frame_stride": 1})
    b = dataclasses.replace(b, camera=a.camera, metadata={"frame_start": 5, "frame_stride": 1})
    b = dataclasses.replace(b, camera=dataclasses.replace(a.camera, K=a.camera.K[:12], R=a.camera.R[:12],
                                                          t=a.camera.t[:12]))
    return a, b


def test_people_share_one_camera(empty_scene, toy_rig):
    from blender_addon.builders.people import build_people

    a, b = _people(toy_rig)
    built = build_people(toy_rig, [a, b])
    assert [bpy.data.objects[r.armature].name for r in built.bodies] == ["Person 1", "Person 2"]
    assert len(built.cameras) == 1 and [o.type for o in bpy.data.objects].count("CAMERA") == 1
    assert empty_scene.camera.name == built.cameras[0]
    # Person 2 starts at source frame 5: its first key is on scene frame 6.
    act = bpy.data.objects["Person 2"].animation_data.action
    first = min(kp.co[0] for fc in act.fcurves for kp in fc.keyframe_points) if hasattr(act, "fcurves") else None
    if first is not None:
        assert first == pytest.approx(6.0)
    assert (built.frame_start, built.frame_end) == (1, 20)


def test_multiview_body_gets_one_camera_per_view(empty_scene, toy_rig):
    from blender_addon.builders.people import build_people

    m = make_motion(toy_rig.joint_names, frames=10, seed=3, camera=True, up_axis="Z")
    views = []
    for i in range(4):
        a = 2 * np.pi * i / 4
        C = np.array([3 * np.cos(a), 3 * np.sin(a), 1.5])
        z = -C / np.linalg.norm(C)
        y = np.array([0, 0, -1.0]) - (np.array([0, 0, -1.0]) @ z) * z
        y /= np.linalg.norm(y)
        R = np.stack([np.cross(y, z), y, z])
        views.append({"name": f"cam{i + 1}", "video": "", "offset": 0, "K": [[1000, 0, 500], [0, 1000, 900], [0, 0, 1]],
                      "R": R.tolist(), "t": (-R @ C).tolist(), "dist": [0, 0, 0, 0], "image_size": [1000, 1800]})
    m = dataclasses.replace(m, metadata={"frame_start": 0, "views": views, "world_frame": "calibration world: Z up"})
    built = build_people(toy_rig, [m])
    assert len(built.bodies) == 1 and len(built.cameras) == 4
    for i, name in enumerate(built.cameras):  # each camera sits at its view's centre (Z-up world = Blender's)
        C = -np.asarray(views[i]["R"]).T @ np.asarray(views[i]["t"])
        assert np.allclose(np.array(bpy.data.objects[name].matrix_world.translation), C, atol=1e-4)
    assert world_heads(bpy.data.objects["Person 1"], toy_rig.joint_names[:1]).shape == (1, 3)
