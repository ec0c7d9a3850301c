"""The Estimate People operator on a calibrated multi-camera take, end to end: real bpy, the add-on enabled, a real
backend subprocess, the shared 4-view take (short frame range)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")


@pytest.mark.slow
def test_addon_ui_estimate_people_on_four_calibrated_views(session, shared_data):
    """Calibration + Other Views set: one body per person in the calibration's world frame, and 4 cameras (one
    per view) at the calibrated centres, each with its own video as a movie-clip plate."""
    from backend.perception.calibration import read_calibration

    data = shared_data / "pose2sim_multiperson"
    if not (data / "Calib.qca.txt").is_file():
        pytest.skip("pose2sim_multiperson not in ../shared/data")
    videos = sorted(data.glob("cam*.mp4"))
    s = bpy.context.scene.smplpix
    s.calibration_path = str(data / "Calib.qca.txt")
    s.other_videos = ";".join(str(v) for v in videos[1:])
    assert bpy.ops.smplpix.estimate_people(filepath=str(videos[0]), start=0, end=12, people="ALL") == {"FINISHED"}

    people = [o for o in bpy.data.objects if o.type == "ARMATURE" and o.name.startswith("Person ")]
    assert len(people) >= 2  # the man and the woman (the bystander may be a third)
    cams = read_calibration(data / "Calib.qca.txt")
    centres = np.stack([c.centre for c in cams])
    bpy.context.scene.frame_set(bpy.context.scene.frame_start)
    for arm in people[:2]:  # the two people seen by several views stand inside the ring of cameras, on the floor
        root = np.asarray(arm.matrix_world @ arm.pose.bones[0].head)
        assert np.all(root[:2] > centres[:, :2].min(0)) and np.all(root[:2] < centres[:, :2].max(0)), root
        assert 0.2 < root[2] < 1.3, root  # root joint (hips) height, metres (world Z up): measured 0.45-0.61
        assert arm.animation_data and arm.animation_data.action
    cameras = {o.name: o for o in bpy.data.objects if o.type == "CAMERA"}
    assert sorted(cameras) == sorted(f"Camera {c.name}" for c in cams)
    assert bpy.context.scene.camera.name == f"Camera {cams[0].name}"
    for cam, video in zip(cams, videos):
        ob = cameras[f"Camera {cam.name}"]
        assert np.linalg.norm(np.asarray(ob.matrix_world.translation) - cam.centre) < 0.03, cam.name
        forward = -np.asarray(ob.matrix_world.to_3x3().col[2])  # Blender cameras look down -Z
        assert np.dot(forward, cam.R[2]) > 0.999, cam.name  # OpenCV's optical axis in world = R's third row
        clips = [b.clip for b in ob.data.background_images if b.source == "MOVIE_CLIP" and b.clip]
        assert len(clips) == 1 and Path(bpy.path.abspath(clips[0].filepath)) == video, cam.name
        assert tuple(clips[0].size) == tuple(cam.image_size)
