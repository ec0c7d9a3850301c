"""The scan in Blender (PyPI bpy): the rigged .glb imports as armature + skinned scan; the Scan panel's operators
run end to end with a real backend (Fit Body on a selected mesh -> Rig Scan -> Apply Motion -> FBX/GLB that
re-import clean)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_helpers import evaluated_world_verts  # noqa: E402
import addon_utils  # noqa: E402

from blender_addon.core.motion import Motion  # noqa: E402




@pytest.fixture()
def hand_glb(tmp_path, hand_scan, synthetic_model_dir):
    from backend.scan.pipeline import run_fit, run_rig
    from blender_addon.core.jobs.scan import ScanFitParams, ScanRigParams

    path, truth = hand_scan
    fit = run_fit(ScanFitParams(scan=str(path), model="mano", model_dir=str(synthetic_model_dir), fast=True,
                                output=str(tmp_path / "fit.npz")), tmp_path)
    out = run_rig(ScanRigParams(scan=str(path), fit=str(fit["motion"]), output=str(tmp_path / "hand.glb")), tmp_path)
    return out["glb"], truth, Motion.load(fit["motion"])


def test_rigged_glb_imports_as_armature_and_skinned_scan(hand_glb):
    glb, truth, motion = hand_glb
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(glb))
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    meshes = [o for o in bpy.data.objects if o.type == "MESH" and o.vertex_groups]  # not the bone-shape sphere
    assert len(arms) == 1 and len(meshes) == 1
    scan = meshes[0]
    assert {g.name for g in scan.vertex_groups} >= set(motion.joint_names)
    assert any(m.type == "ARMATURE" and m.object == arms[0] for m in scan.modifiers)
    # the imported scan sits where the scan file put it (glTF Y-up <-> the motion's axes), in metres
    before = evaluated_world_verts(scan)
    if motion.up_axis == "Y":  # Blender's importer turns glTF Y-up into Z-up: (x, y, z) -> (x, -z, y)
        expect = truth / 1000 @ np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T
    else:
        expect = truth / 1000
    assert np.abs(before - expect).max() < 0.005  # the 1 mm noise of the scan file, and float32
    # any pose moves it
    pb = arms[0].pose.bones["index1"]
    pb.rotation_mode = "XYZ"
    pb.rotation_euler = (0.0, 0.0, 1.0)
    bpy.context.view_layer.update()
    moved = np.linalg.norm(evaluated_world_verts(scan) - before, axis=1)
    assert moved.max() > 0.01 and np.median(moved) < 0.01  # the index finger bends, the rest stays


@pytest.fixture()
def addon(tmp_path, synthetic_model_dir):
    os.environ["SMPLPIX_TEST_JOBS"] = "1"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mod = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    assert mod is not None
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.backend_python = sys.executable
    prefs.job_folder = str(tmp_path / "jobs")
    prefs.device = "cpu"
    prefs.model_dir = str(synthetic_model_dir)
    yield mod
    from blender_addon.ipc.session import SESSION

    SESSION.stop()
    addon_utils.disable("blender_addon", default_set=True, handle_error=None)


@pytest.mark.slow
def test_scan_panel_operators_end_to_end(addon, hand_scan, tmp_path):
    import trimesh

    from blender_addon.builders.mesh import build_mesh_data
    from blender_addon.builders.common import Created

    path, truth = hand_scan
    assert bpy.ops.smplpix.backend_start() == {"FINISHED"}
    mesh = trimesh.load(path, process=False)
    verts = np.asarray(mesh.vertices) / 1000  # the selected object is in metres, Blender Z-up
    me = build_mesh_data("HandScan", verts, np.asarray(mesh.faces), None, Created())
    scan = bpy.data.objects.new("HandScan", me)
    bpy.context.scene.collection.objects.link(scan)
    bpy.context.view_layer.objects.active = scan
    scan.select_set(True)
    s = bpy.context.scene.smplpix
    s.scan_model = "mano"
    assert bpy.ops.smplpix.scan_fit() == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert arm.type == "ARMATURE" and arm.smplpix.scan.name == "HandScan"
    before = evaluated_world_verts(scan)
    assert bpy.ops.smplpix.scan_rig() == {"FINISHED"}
    assert scan.parent == arm and len(scan.vertex_groups) == 16
    bpy.context.scene.frame_set(1)
    overlay = np.linalg.norm(evaluated_world_verts(scan) - before, axis=1)
    assert overlay.max() < 1e-3  # rigged, at the fitted pose, the scan has not moved
    # Apply Motion: a 10-frame motion moves the body and the rigged scan
    motion = Motion.load(arm.smplpix.motion_path)
    rv = np.repeat(motion.rotvec, 10, 0)
    rv[:, 1:] += np.linspace(0, 0.6, 10)[:, None, None] * np.array([0.0, 0.0, 1.0])
    moved_path = tmp_path / "wave.npz"
    Motion(model="mano", fps=30.0, joint_names=motion.joint_names, rotvec=rv, transl=np.repeat(motion.transl, 10, 0),
           betas=motion.betas, up_axis=motion.up_axis, gender=motion.gender).save(moved_path)
    assert bpy.ops.smplpix.scan_apply_motion(filepath=str(moved_path)) == {"FINISHED"}
    bpy.context.scene.frame_set(10)
    assert np.linalg.norm(evaluated_world_verts(scan) - before, axis=1).max() > 0.01
    # export both with the project presets; they re-import clean
    for preset, name in (("fbx_generic", "scan.fbx"), ("glb_generic", "scan.glb")):
        bpy.context.view_layer.objects.active = arm
        assert bpy.ops.smplpix.export_body(filepath=str(tmp_path / name), preset=preset) == {"FINISHED"}
    for name, importer in (("scan.fbx", bpy.ops.import_scene.fbx), ("scan.glb", bpy.ops.import_scene.gltf)):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        importer(filepath=str(tmp_path / name))
        meshes = {o.name: o for o in bpy.data.objects if o.type == "MESH"}
        assert len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 1, name
        assert any(len(o.data.vertices) == len(verts) and len(o.vertex_groups) >= 16 for o in meshes.values()), name
        assert bpy.data.actions, name


@pytest.mark.slow
def test_batch_convert_accepts_a_scan(repo_root, hand_scan, synthetic_model_dir, tmp_path):
    import json
    import subprocess

    path, truth = hand_scan
    r = subprocess.run([sys.executable, str(repo_root / "scripts" / "batch_convert.py"), str(path), "--out",
                        str(tmp_path / "out"), "--formats", "glb,fbx", "--model", "mano", "--model-dir",
                        str(synthetic_model_dir), "--device", "cpu"], cwd=repo_root, capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, PYTHONPATH=str(repo_root), OMP_NUM_THREADS="1"))
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ok"] and summary["converted"] == 1
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=summary["inputs"][0]["outputs"]["glb"])
    sizes = sorted(len(o.data.vertices) for o in bpy.data.objects if o.type == "MESH" and o.vertex_groups)
    assert len(truth) in sizes and len(sizes) == 2  # the fitted body and the rigged scan
