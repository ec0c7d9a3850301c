"""The demo's saved scene works in the add-on's UI: after reopening ``scene.blend`` the body carries its record,
so Export, Train Avatar and Render Avatar are enabled, and the avatar the demo trained is recorded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
cv2 = pytest.importorskip("cv2")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "addon_build"))

from addon_build_helpers import make_motion, make_toy_rig  # noqa: E402
from demo import Demo  # noqa: E402


def _write_video(path: Path, frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


def _select(name: str) -> None:
    ob = bpy.data.objects[name]
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    ob.select_set(True)
    bpy.context.view_layer.objects.active = ob


def test_saved_demo_scene_enables_export_and_avatar_buttons(request, tmp_path):
    rig = make_toy_rig()
    rig_path = rig.save(tmp_path / "rig_toy.npz")
    motion = make_motion(rig.joint_names, frames=6, camera=True).save(tmp_path / "motion.npz")
    video = _write_video(tmp_path / "sample.mp4")
    demo = Demo(argparse.Namespace(out=str(tmp_path / "demo"), model="toy", model_dir=None))
    scene = demo.build_scene(rig_path, motion, video)  # exactly what scripts/demo.py runs
    preview = tmp_path / "preview"
    preview.mkdir()
    for i in range(3):
        cv2.imwrite(str(preview / f"frame_{i:04d}.png"), np.zeros((16, 16, 4), np.uint8))
    checkpoint = tmp_path / "demo" / "avatar" / "checkpoint.pt"
    demo.attach_avatar(scene, checkpoint, preview)

    request.getfixturevalue("session")  # then, as a user: Blender with the add-on and its backend, open the file
    bpy.ops.wm.open_mainfile(filepath=scene["blend"])
    _select(scene["armature"])
    assert bpy.ops.smplpix.export_body.poll()
    assert bpy.ops.smplpix.train_avatar.poll()
    assert bpy.ops.smplpix.render_avatar.poll()
    arm = bpy.data.objects[scene["armature"]]
    assert arm.smplpix.avatar_path == str(checkpoint)
    assert arm.smplpix.video_path == str(video.resolve()) and arm.smplpix.motion_path == str(motion.resolve())
    _select(arm.smplpix.mesh.name)  # the mesh selected works as well
    assert bpy.ops.smplpix.export_body.poll()
