"""The main job end to end (scripts/demo.py) on a short embedded clip at small sizes: every output exists, loads
and is plausible."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

FRAMES = 32


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, repo_root) -> Path:
    out = tmp_path_factory.mktemp("demo")
    r = subprocess.run([sys.executable, str(repo_root / "scripts" / "demo.py"), "--out", str(out), "--frames",
                        str(FRAMES), "--size", "256", "--avatar-size", "64", "--avatar-steps", "10"],
                       capture_output=True, text=True, timeout=1500, cwd=repo_root)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return out


def _glb_json(path: Path) -> dict:
    data = path.read_bytes()
    magic, _, _ = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67  # 'glTF'
    length, kind = struct.unpack_from("<II", data, 12)
    assert kind == 0x4E4F534A  # 'JSON'
    return json.loads(data[20:20 + length])


@pytest.mark.slow
def test_demo_outputs_exist_and_summary_is_complete(demo_out):
    summary = json.loads((demo_out / "summary.json").read_text())
    assert summary["ok"] and all(s["ok"] for s in summary["stages"].values())
    for stage in ("clip", "estimate", "rig", "scene", "avatar", "preview"):
        assert stage in summary["stages"] and summary["stages"][stage]["seconds"] > 0
    for name in ("sample.mp4", "motion.npz", "scene.blend", "body.fbx", "body.glb", "contact_sheet.png",
                 "avatar/checkpoint.pt", "avatar/eval_test.json"):
        assert (demo_out / name).is_file() and (demo_out / name).stat().st_size > 0, name
    assert len(list((demo_out / "preview").glob("*.png"))) == FRAMES
    q = summary["quality"]
    assert q["estimate"]["found_fraction"] >= 0.95
    assert q["estimate_vs_truth"]["frames"] == FRAMES and q["estimate_vs_truth"]["pa_mpjpe_mm"] < 150
    head = q["avatar"]  # person-region headline of the held-out frames (10 steps: present and sane, not good)
    assert 5 < head["person_psnr"] < 60 and 5 < head["baseline_person_psnr"] < 60
    assert head["gain_db"] == pytest.approx(head["person_psnr"] - head["baseline_person_psnr"], abs=1e-3)
    assert 0 <= head["mask_iou"] <= 1 and head["sharpness"] > 0


@pytest.mark.slow
def test_demo_blend_opens_with_a_plausible_scene(demo_out):
    from bpy_extras.object_utils import world_to_camera_view

    bpy.ops.wm.open_mainfile(filepath=str(demo_out / "scene.blend"))
    scene = bpy.context.scene
    arm = bpy.data.objects["Performer"]
    assert arm.type == "ARMATURE" and len(arm.data.bones) == 104
    assert any(c.type == "MESH" for c in arm.children)
    cam = scene.camera
    assert cam is not None and cam.data.background_images[0].source == "MOVIE_CLIP"
    assert scene.frame_end - scene.frame_start + 1 == FRAMES  # animation length equals the clip's
    preview = bpy.data.images["SMPLpix Preview"]  # a full-frame layer over the plate, in the compositor too
    assert any(bg.source == "IMAGE" and bg.image == preview for bg in cam.data.background_images)
    assert scene.compositing_node_group is not None
    for frame in (scene.frame_start, scene.frame_end):
        scene.frame_set(frame)
        for bone in ("root", "head", "foot.L", "foot.R"):
            p = world_to_camera_view(scene, cam, arm.matrix_world @ arm.pose.bones[bone].head)
            assert p.z > 0 and 0 < p.x < 1 and 0 < p.y < 1, (frame, bone, tuple(p))


@pytest.mark.slow
def test_demo_exports_reimport(demo_out):
    gltf = _glb_json(demo_out / "body.glb")
    assert len(gltf["skins"]) == 1 and gltf["animations"]
    assert len(gltf["skins"][0]["joints"]) == 104
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(demo_out / "body.fbx"))
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == 1 and len(arms[0].data.bones) == 104
    assert any(o.type == "MESH" for o in bpy.data.objects)
    assert arms[0].animation_data is not None and arms[0].animation_data.action is not None
