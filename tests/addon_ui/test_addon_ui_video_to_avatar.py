"""The sidebar's one-click job: video -> estimate -> animated body -> avatar training -> preview, against a real
backend subprocess and the real bpy module, on a short clip rendered from Anny."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from blender_addon import body_record  # noqa: E402


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "walk.mp4"
    r = subprocess.run([sys.executable, "-m", "backend", "demo", "clip", "-o", str(out), "--frames", "32",
                        "--size", "256"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def _records(text: str) -> list[dict]:
    return [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith("SMPLPIX_PROGRESS ")]


@pytest.mark.slow
def test_addon_ui_video_to_avatar_chains_every_step(session, short_clip, capsys):
    s = bpy.context.scene.smplpix
    s.video_path = str(short_clip)
    s.avatar_steps = 12
    s.avatar_size = 64
    assert bpy.ops.smplpix.video_to_avatar() == {"FINISHED"}
    records = _records(capsys.readouterr().out)
    finished = [r for r in records if r["state"] == "done"]
    assert [r["kind"] for r in finished][0] == "estimate"
    assert [r["kind"] for r in finished][-2:] == ["train_avatar", "render_avatar"]
    assert all(r["label"].startswith("[") for r in records)  # one numbered progress view over the chain

    arm = bpy.data.objects["walk"]
    assert arm.type == "ARMATURE" and Path(arm.smplpix.avatar_path).is_file()
    scene = bpy.context.scene
    assert scene.frame_end - scene.frame_start + 1 == 32  # animation length equals the clip's
    cam = scene.camera
    assert cam is not None and cam.data.background_images[0].source == "MOVIE_CLIP"
    image = bpy.data.images[f"{arm.name}Avatar"]
    assert image.source == "SEQUENCE" and image["smplpix_frames"] == 32
    # the preview is a full-frame layer over the camera's video plate (viewport) and in the compositor (renders)
    assert any(bg.source == "IMAGE" and bg.image == image for bg in cam.data.background_images)
    assert scene.compositing_node_group is not None and image.size[:] == body_record.camera_image_size(cam)
    # The body stands in front of the camera, inside its view, on every checked frame.
    for frame in (scene.frame_start, scene.frame_end):
        scene.frame_set(frame)
        pelvis = arm.matrix_world @ arm.pose.bones[0].head
        local = cam.matrix_world.inverted() @ pelvis
        assert local.z < 0  # Blender cameras look down -Z
        from bpy_extras.object_utils import world_to_camera_view

        ndc = world_to_camera_view(scene, cam, pelvis)
        assert 0.0 < ndc.x < 1.0 and 0.0 < ndc.y < 1.0
    # The operator is one undo unit; that one undo really takes a whole result away is checked with Add Body in
    # test_addon_ui_modal.py (headless Blender can undo once the step is pushed).
    assert "UNDO" in bpy.types.SMPLPIX_OT_video_to_avatar.bl_options


def test_addon_ui_video_to_avatar_missing_video_is_reported(session, tmp_path):
    bpy.context.scene.smplpix.video_path = str(tmp_path / "nope.mp4")
    before = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="nope.mp4 does not exist"):
        bpy.ops.smplpix.video_to_avatar()
    assert sorted(o.name for o in bpy.data.objects) == before
