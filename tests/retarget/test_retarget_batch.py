"""``batch_convert.py --retarget TARGET --bone-map MAP``: bad options fail at once; a motion file converts onto a
Mixamo-named character saved as .blend and the exported FBX carries the baked animation on its bones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from skeletons import build_armature

REPO = Path(__file__).resolve().parents[2]


def _batch(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "batch_convert.py"), *map(str, args), "--device",
                           "cpu"], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_bad_retarget_options_fail_before_any_work(tmp_path):
    motion = tmp_path / "m.npz"
    motion.write_bytes(b"")
    proc = _batch(motion, "--out", tmp_path / "o", "--retarget", tmp_path / "missing.fbx", timeout=60)
    assert proc.returncode == 2 and "missing.fbx: not an existing .fbx or .blend file" in proc.stderr
    rig = tmp_path / "rig.blend"
    rig.write_bytes(b"x")
    bad_map = tmp_path / "map.json"
    bad_map.write_text("{")
    proc = _batch(motion, "--out", tmp_path / "o", "--retarget", rig, "--bone-map", bad_map, timeout=60)
    assert proc.returncode == 2 and "map.json: not a readable bone-map JSON file" in proc.stderr
    proc = _batch(motion, "--out", tmp_path / "o", "--bone-map", bad_map, timeout=60)
    assert proc.returncode == 2 and "--bone-map needs --retarget" in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_batch_retarget_onto_a_mixamo_character(empty_scene, anny_rig, walk_motion, tmp_path):
    import bpy

    build_armature("mixamo", "Character")
    character = tmp_path / "character.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(character), copy=True)
    motion = walk_motion.save(tmp_path / "walk.npz")
    out = tmp_path / "out"
    proc = _batch(motion, "--out", out, "--formats", "blend,fbx", "--retarget", character, "--root-motion",
                  "in_place")
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = json.loads((out / "summary.json").read_text())["inputs"][0]
    assert entry["ok"] and "bone map mixamo: 52 bones driven" in entry["retarget"]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=entry["outputs"]["fbx"])
    arms = [ob for ob in bpy.data.objects if ob.type == "ARMATURE"]
    assert len(arms) == 1 and "mixamorig:LeftForeArm" in arms[0].data.bones  # only the character is exported
    action = arms[0].animation_data.action
    assert action is not None and action.frame_range[1] - action.frame_range[0] >= walk_motion.num_frames - 2
