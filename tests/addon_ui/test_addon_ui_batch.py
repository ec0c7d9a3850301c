"""Headless batch conversion as a real subprocess (``python scripts/batch_convert.py`` with the PyPI bpy module)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_addon.ipc.backend_process import BackendProcess
from blender_addon.core.motion import Motion
from blender_addon.core.rigspec import RigSpec

bpy = pytest.importorskip("bpy")


def glb_json(path: Path) -> dict:
    data = path.read_bytes()
    magic, _, _ = struct.unpack_from("<4sII", data)
    assert magic == b"glTF"
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    return json.loads(data[20:20 + length])


@pytest.fixture(scope="module")
def anny_rig(repo_root, tmp_path_factory) -> RigSpec:
    proc = BackendProcess(python=sys.executable, repo_root=repo_root, job_root=tmp_path_factory.mktemp("rig"),
                          device="cpu")
    proc.start()
    try:
        with proc.connect() as client:
            result = client.wait_for(client.submit("build_body", {"model": "anny"}), timeout=300)
    finally:
        proc.stop()
    return RigSpec.load(result.files["rig"])


def write_motion(path: Path, rig: RigSpec, frames: int = 12) -> Motion:
    rng = np.random.default_rng(7)
    transl = np.zeros((frames, 3))
    transl[:, 0] = np.linspace(0.0, 1.0, frames)
    motion = Motion(model="anny", fps=30.0, joint_names=rig.joint_names, up_axis=rig.up_axis,
                    rotvec=rng.normal(0.0, 0.1, (frames, rig.num_joints, 3)), transl=transl)
    motion.save(path)
    return motion


def run_batch(repo_root: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo_root / "scripts" / "batch_convert.py"), *map(str, args),
                           "--device", "cpu"], cwd=repo_root, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_addon_ui_batch_good_and_corrupt_inputs(repo_root, tmp_path, anny_rig):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_motion(inputs / "walk.npz", anny_rig)
    (inputs / "broken.npz").write_bytes(b"this is not a zip file")
    out = tmp_path / "out"
    r = run_batch(repo_root, inputs, "--out", out)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is False and summary["converted"] == 1 and summary["failed"] == 1
    by_name = {Path(e["input"]).name: e for e in summary["inputs"]}
    bad = by_name["broken.npz"]
    assert not bad["ok"] and "broken.npz" in bad["error"] and "not a readable" in bad["error"]
    good = by_name["walk.npz"]
    assert good["ok"] and good["frames"] == 12 and good["fps"] == 30
    assert set(good["outputs"]) == {"blend", "fbx", "glb"}
    check = ("import bpy, sys; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); s = bpy.context.scene; "
             "arm = [o for o in bpy.data.objects if o.type == 'ARMATURE']; "
             "print('BLEND', len(arm), len(arm[0].pose.bones), s.frame_start, s.frame_end, len(bpy.data.actions))")
    opened = subprocess.run([sys.executable, "-c", check, str(out / "walk.blend")], capture_output=True, text=True,
                            timeout=300)
    assert f"BLEND 1 {anny_rig.num_joints} 1 12 " in opened.stdout, opened.stdout + opened.stderr
    assert (out / "walk.fbx").read_bytes()[:18] == b"Kaydara FBX Binary"
    gltf = glb_json(out / "walk.glb")
    assert len(gltf["skins"]) == 1 and len(gltf["skins"][0]["joints"]) == anny_rig.num_joints
    assert gltf["animations"], "the GLB carries no animation"
    assert not list(out.glob("*.part*"))
    # parseable progress: per-input batch lines and the jobs' progress lines
    batch = [json.loads(line.split(" ", 1)[1]) for line in r.stdout.splitlines() if line.startswith("SMPLPIX_BATCH ")]
    assert [(Path(b["input"]).name, b["state"]) for b in batch] == [
        ("broken.npz", "start"), ("broken.npz", "failed"), ("walk.npz", "start"), ("walk.npz", "done")]
    progress = [json.loads(line.split(" ", 1)[1]) for line in r.stdout.splitlines()
                if line.startswith("SMPLPIX_PROGRESS ")]
    assert [p["stage"] for p in progress][:2] == ["queued", "load_model"] and progress[-1]["state"] == "done"


@pytest.mark.slow
def test_addon_ui_batch_all_good_exits_zero(repo_root, tmp_path, anny_rig):
    write_motion(tmp_path / "hop.npz", anny_rig, frames=5)
    r = run_batch(repo_root, tmp_path / "hop.npz", "--out", tmp_path / "out", "--formats", "glb")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "out" / "hop.glb").is_file() and not (tmp_path / "out" / "hop.blend").exists()


def test_addon_ui_batch_usage_errors(repo_root, tmp_path):
    r = run_batch(repo_root, tmp_path, "--out", tmp_path / "out")  # empty folder
    assert r.returncode == 2 and "no inputs found" in r.stderr
    r = run_batch(repo_root, tmp_path, "--out", tmp_path / "out", "--formats", "obj")
    assert r.returncode == 2 and "choose from blend, fbx, glb" in r.stderr


@pytest.mark.slow
@pytest.mark.shared_data
def test_addon_ui_batch_video_to_glb(repo_root, tmp_path, jump_video):
    """The real clip (first 8 frames): estimate job (motion + rig) -> animated body + camera -> GLB."""
    r = run_batch(repo_root, jump_video, "--out", tmp_path, "--formats", "glb", "--frames", "0:8")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    entry = json.loads((tmp_path / "summary.json").read_text())["inputs"][0]
    assert entry["ok"] and entry["frames"] == 8 and entry["fps"] == 30
    gltf = glb_json(Path(entry["outputs"]["glb"]))
    assert gltf["animations"] and len(gltf["skins"]) == 1 and gltf.get("cameras")
    kinds = [json.loads(line.split(" ", 1)[1])["kind"] for line in r.stdout.splitlines()
             if line.startswith("SMPLPIX_PROGRESS ")]
    assert kinds[0] == "estimate" and "build_body" not in kinds  # the estimate job returns the rig too


@pytest.mark.slow
def test_addon_ui_batch_folder_of_videos_to_avatar_scenes(repo_root, tmp_path, addon):
    """The whole Video to Avatar job headless, for a folder holding a video and a broken one."""
    inputs = tmp_path / "videos"
    inputs.mkdir()
    clip = subprocess.run([sys.executable, "-m", "backend", "demo", "clip", "-o", str(inputs / "walk.mp4"),
                           "--frames", "32", "--size", "256"], cwd=repo_root, capture_output=True, text=True,
                          timeout=600)
    assert clip.returncode == 0, clip.stderr[-2000:]
    (inputs / "walk_truth.npz").unlink()  # only the video goes in
    (inputs / "damaged.mp4").write_bytes(b"\x00" * 2048)
    out = tmp_path / "out"
    r = run_batch(repo_root, inputs, "--out", out, "--formats", "blend", "--avatar", "--avatar-steps", "5",
                  "--avatar-size", "64")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    entries = {Path(e["input"]).name: e for e in json.loads((out / "summary.json").read_text())["inputs"]}
    assert not entries["damaged.mp4"]["ok"] and "damaged.mp4" in entries["damaged.mp4"]["error"]
    good = entries["walk.mp4"]
    assert good["ok"] and good["frames"] == 32, good
    assert len(list(Path(good["outputs"]["preview"]).glob("*.png"))) == 32
    assert Path(good["outputs"]["avatar"]).is_file()
    bpy.ops.wm.open_mainfile(filepath=good["outputs"]["blend"])
    image = next(i for i in bpy.data.images if i.source == "SEQUENCE")
    assert Path(bpy.path.abspath(image.filepath)).parent == Path(good["outputs"]["preview"])
    cam = bpy.context.scene.camera
    assert any(bg.source == "IMAGE" and bg.image == image for bg in cam.data.background_images)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert arm.smplpix.avatar_path == good["outputs"]["avatar"]


@pytest.mark.slow
def test_addon_ui_batch_people_all_in_one_file(repo_root, tmp_path, shared_data):
    """Every person of the Pose2Sim take (first 20 frames) in one .glb / .blend: one skinned body each."""
    video = shared_data / "pose2sim_multiperson" / "cam01.mp4"
    if not video.is_file():
        pytest.skip("pose2sim_multiperson/cam01.mp4 not in ../shared/data")
    out = tmp_path / "out"
    proc = run_batch(repo_root, video, "--out", out, "--formats", "blend,glb", "--frames", "0:20", "--people", "all")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    gltf = glb_json(out / "cam01.glb")
    assert len(gltf["skins"]) >= 2  # the man, the woman (and the bystander, a third track)
    assert sum(1 for n in gltf["nodes"] if "camera" in n) == 1
