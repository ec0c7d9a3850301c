"""The camera's video plate shows the video frame the motion frame came from (Start > 0, Stride > 1)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from addon_build_helpers import make_motion

bpy = pytest.importorskip("bpy")
cv2 = pytest.importorskip("cv2")

from blender_addon.builders.scene import build_motion  # noqa: E402


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("plate") / "numbered.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 5 * i, np.uint8))
    writer.release()
    return path


def test_plate_with_start_plays_the_source_frame(empty_scene, toy_rig, video):
    motion = dataclasses.replace(make_motion(toy_rig.joint_names, frames=6, camera=True), frame_start=7)
    res = build_motion(toy_rig, motion, video=video, frame_start=3)
    bg = bpy.data.objects[res.camera].data.background_images[0]
    assert bg.source == "MOVIE_CLIP"
    # a clip plays its frame k (1-based) at scene frame clip.frame_start + k - 1
    for i in range(motion.num_frames):
        scene_frame = res.frame_start + i
        assert scene_frame - bg.clip.frame_start == motion.frame_start + i  # 0-based source frame


@pytest.mark.parametrize("start,stride", [(0, 2), (4, 3)])
def test_plate_with_stride_shows_every_strided_source_frame(empty_scene, toy_rig, video, start, stride):
    motion = dataclasses.replace(make_motion(toy_rig.joint_names, frames=8, camera=True), frame_start=start,
                                 frame_stride=stride)
    res = build_motion(toy_rig, motion, video=video, frame_start=10)
    user = bpy.data.objects[res.camera].data.background_images[0].image_user
    shown = []
    for i in range(motion.num_frames):
        empty_scene.frame_set(res.frame_start + i)
        shown.append(user.frame_current - 1)  # Blender's movie frames are 1-based
    np.testing.assert_array_equal(shown, motion.source_frames())


def test_preview_plate_uses_no_api_deprecated_for_blender_6(empty_scene, tmp_path):
    import warnings

    from blender_addon.builders.preview import load_preview

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"frame_{i:04d}.png"), np.zeros((8, 8, 4), np.uint8))
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    empty_scene.collection.objects.link(cam)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_preview(tmp_path, camera="Cam")
    ours = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
            and "blender_addon" in w.filename]
    assert not ours, ours
