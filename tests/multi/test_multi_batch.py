"""Headless batch of a calibrated multi-camera take (``scripts/batch_convert.py --calibration``) as a real
subprocess: bad input is one line before any work, and (slow) the shared 4-view take becomes one .blend/.fbx/.glb
with every person in world coordinates and one camera per view."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.multi.test_multi_camera import write_toml, write_video

pytest.importorskip("bpy")


def run_batch(repo_root: Path, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo_root / "scripts" / "batch_convert.py"), *map(str, args),
                           "--device", "cpu"], cwd=repo_root, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("case", ["count", "size", "offsets"])
def test_batch_take_mismatch_is_one_line_and_writes_nothing(repo_root, tmp_path, case):
    calib = write_toml(tmp_path / "calib.toml", 3 if case == "count" else 2)
    videos = [write_video(tmp_path / "v0.mp4", 5),
              write_video(tmp_path / "v1.mp4", 5, size=(480, 320) if case == "size" else (320, 480))]
    extra = ["--offsets", "0,0,1"] if case == "offsets" else []
    out = tmp_path / "out"
    proc = run_batch(repo_root, *videos, "--calibration", calib, *extra, "--out", out, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("batch_convert:")]
    assert len(lines) == 1, proc.stderr
    expected = {"count": ("calib.toml holds 3 cameras", "v0.mp4"), "size": ("v1.mp4 is 480x320", "calib.toml"),
                "offsets": ("--offsets '0,0,1' has 3 values for 2 videos",)}[case]
    assert all(s in lines[0] for s in expected), lines[0]
    assert "SMPLPIX_BATCH" not in proc.stdout  # nothing started
    assert not out.exists()


def test_batch_offsets_need_a_calibration(repo_root, tmp_path):
    proc = run_batch(repo_root, write_video(tmp_path / "v0.mp4", 3), "--offsets", "0", "--out", tmp_path / "out",
                     timeout=120)
    assert proc.returncode == 2 and "--offsets needs --calibration" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_batch_take_check_runs_in_the_backend_interpreter_without_opencv(tmp_path, monkeypatch):
    """Under Blender's own Python (no OpenCV) the take is checked by the backend interpreter, same message."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "scripts"))
    import argparse

    from batch_convert import check_take

    videos = [write_video(tmp_path / f"v{i}.mp4", 4) for i in range(2)]
    args = argparse.Namespace(calibration=write_toml(tmp_path / "calib.toml", 3), offsets="", frame_range=[0, 0, 1])
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError here, as in Blender
    error = check_take(args, videos, sys.executable)
    assert error and error.startswith(f"{args.calibration} holds 3 cameras") and "v0.mp4, v1.mp4" in error
    args.calibration = write_toml(tmp_path / "calib2.toml", 2)
    assert check_take(args, videos, sys.executable) is None


@pytest.mark.slow
def test_batch_shared_take_every_person(repo_root, shared_data, tmp_path):
    """12 frames of the 4-view take, --people all: one .blend with a body per person and 4 plated cameras at the
    calibrated centres, plus one FBX and one GLB holding every person and the 4 cameras."""
    import numpy as np

    from backend.perception.calibration import read_calibration
    from tests.addon_ui.test_addon_ui_batch import glb_json

    data = shared_data / "pose2sim_multiperson"
    if not (data / "Calib.qca.txt").is_file():
        pytest.skip("pose2sim_multiperson not in ../shared/data")
    videos = sorted(data.glob("cam*.mp4"))
    out = tmp_path / "out"
    proc = run_batch(repo_root, *videos, "--calibration", data / "Calib.qca.txt", "--people", "all",
                     "--frames", "0:12", "--out", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["converted"] == 1 and len(summary["inputs"]) == 1
    entry = summary["inputs"][0]
    assert entry["videos"] == [str(v) for v in videos] and entry["frames"] == 12
    assert sorted(entry["outputs"]) == ["blend", "fbx", "glb"]
    assert Path(entry["outputs"]["blend"]).name == "Calib.blend"
    cams = read_calibration(data / "Calib.qca.txt")
    check = subprocess.run([sys.executable, "-c", INSPECT, entry["outputs"]["blend"]], capture_output=True,
                           text=True, timeout=300, cwd=repo_root)
    assert check.returncode == 0, check.stderr[-2000:]
    scene = json.loads(check.stdout.strip().splitlines()[-1])
    assert len(scene["people"]) >= 2
    assert sorted(scene["cameras"]) == sorted(f"Camera {c.name}" for c in cams)
    for cam in cams:
        info = scene["cameras"][f"Camera {cam.name}"]
        centre = cam.centre
        assert np.linalg.norm(np.asarray(info["location"]) - centre) < 0.03, (cam.name, info, centre)
        assert info["clip"] and Path(info["clip"]).name in {v.name for v in videos}
    gltf = glb_json(Path(entry["outputs"]["glb"]))
    assert sum("camera" in n for n in gltf["nodes"]) == 4
    assert sum("skin" in n for n in gltf["nodes"]) >= 2


INSPECT = """
import json, sys
import bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
people = [o.name for o in bpy.data.objects if o.type == "ARMATURE" and o.name.startswith("Person")]
cameras = {}
for o in bpy.data.objects:
    if o.type == "CAMERA":
        bg = [b.clip.filepath for b in o.data.background_images if b.source == "MOVIE_CLIP" and b.clip]
        cameras[o.name] = {"location": list(o.matrix_world.translation), "clip": bpy.path.abspath(bg[0]) if bg else ""}
print(json.dumps({"people": people, "cameras": cameras}))
"""
