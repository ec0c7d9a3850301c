"""Scan fit and rig end to end on a synthetic MANO hand mesh (CLI subprocesses), and the bad-input paths."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from backend.bodymodels.detail import DetailLayer
from blender_addon.core.motion import Motion


def _cli(repo_root, *args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(repo_root), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "backend", "scan", *map(str, args)], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def glb_json(path) -> dict:
    data = path.read_bytes()
    assert data[:4] == b"glTF"
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    return json.loads(data[20:20 + length])


@pytest.fixture(scope="module")
def hand_fit(repo_root, hand_scan, synthetic_model_dir, tmp_path_factory):
    path, truth = hand_scan
    out = tmp_path_factory.mktemp("fit")
    r = _cli(repo_root, "fit", path, "-o", out / "fit.npz", "--mesh", out / "fit.ply", "--detail",
             out / "detail.npz", "--model", "mano", "--model-dir", synthetic_model_dir, "--fast")
    assert r.returncode == 0, r.stderr[-2000:]
    return out, truth


def test_fit_writes_motion_mesh_and_detail_in_the_scan_frame(hand_fit, mano_model):
    import trimesh

    out, truth = hand_fit
    motion = Motion.load(out / "fit.npz")
    assert motion.model == "mano" and motion.num_frames == 1
    assert motion.metadata["scan_unit"] == "mm"
    mesh = trimesh.load(out / "fit.ply", process=False)
    assert len(mesh.vertices) == len(truth)  # the model's vertex order
    # in the scan's coordinates and units (mm): the fitted surface lies on the scan
    from backend.scan.fit import symmetric_chamfer

    assert symmetric_chamfer(np.asarray(mesh.vertices), truth) < 15.0  # mm, a quick fit; misplaced: > 100
    layer = DetailLayer.load(out / "detail.npz")
    assert layer.model == "mano" and layer.num_vertices == len(truth)
    assert np.abs(layer.offsets).max() < 0.08


def test_rig_writes_a_skinned_glb_that_reposes_the_scan(repo_root, hand_fit, hand_scan, tmp_path):
    out, _ = hand_fit
    scan_path, _ = hand_scan
    r = _cli(repo_root, "rig", scan_path, "--fit", out / "fit.npz", "-o", tmp_path / "rigged.glb")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = glb_json(tmp_path / "rigged.glb")
    assert len(doc["skins"]) == 1 and len(doc["skins"][0]["joints"]) == 16
    prim = doc["meshes"][0]["primitives"][0]
    assert {"POSITION", "JOINTS_0", "WEIGHTS_0"} <= set(prim["attributes"])
    assert not list(tmp_path.glob("*.part"))


def test_unposing_is_the_exact_inverse_of_skinning(mano_model):
    import torch

    from backend.scan.fit import model_rig
    from backend.scan.skin import transfer_weights, unpose
    from backend.scan.synthetic import random_pose

    rig = model_rig(mano_model)
    rv = random_pose(mano_model, np.random.default_rng(1))
    transl = np.array([0.1, -0.2, 0.05])
    with torch.no_grad():
        posed = mano_model(torch.as_tensor(rv, dtype=torch.float32)[None],
                           torch.as_tensor(transl, dtype=torch.float32)[None]).vertices[0].double().numpy()
    W = transfer_weights(posed, rig.faces, rig.skin_weights, posed, rig.faces, smooth=0)
    rest, _ = unpose(posed, W, rig, rv, transl, None)
    from blender_addon.core.rotations import rotvec_to_matrix

    G, heads = rig.forward_kinematics(rotvec_to_matrix(rv)[None], transl[None])
    offs = heads[0] - np.einsum("jab,jb->ja", G[0], rig.rest_joints)
    A = np.einsum("nj,jab->nab", W, G[0])
    b = W @ offs
    assert np.allclose(np.einsum("nab,nb->na", A, rest) + b, posed, atol=1e-6)
    assert np.abs(rest - rig.template).mean() < 0.005  # the weights came from the same surface


@pytest.mark.slow
def test_a_cube_is_not_a_body_and_nothing_is_written(repo_root, tmp_path):
    import trimesh

    cube = trimesh.creation.box((1.0, 1.0, 1.0)).subdivide().subdivide().subdivide()
    cube.export(str(tmp_path / "cube.ply"))
    r = _cli(repo_root, "fit", tmp_path / "cube.ply", "-o", tmp_path / "out.npz", "--mesh", tmp_path / "m.ply",
             "--fast")
    assert r.returncode == 2
    assert "cube.ply" in r.stderr and "does not look like" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.ply"]


def test_bad_scan_files_exit_2_with_one_line(repo_root, tmp_path):
    (tmp_path / "empty.obj").write_bytes(b"")
    r = _cli(repo_root, "fit", tmp_path / "empty.obj", "-o", tmp_path / "o.npz", timeout=120)
    assert r.returncode == 2 and "empty.obj: the file is empty" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "scan.dat").write_bytes(b"1 2 3")
    r = _cli(repo_root, "fit", tmp_path / "scan.dat", "-o", tmp_path / "o.npz", timeout=120)
    assert r.returncode == 2 and "scan.dat: unsupported scan format" in r.stderr
    assert not (tmp_path / "o.npz").exists()
