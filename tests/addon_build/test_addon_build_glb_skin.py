"""The GLB keeps every skin weight: a mesh with 6 bone influences per vertex, skinned from the exported file's own
joints, weights, inverse bind matrices and animation, matches Blender's evaluated mesh at a posed frame."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
from addon_build_helpers import evaluated_local_verts, make_motion

bpy = pytest.importorskip("bpy")

from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.core.export_presets import get_preset  # noqa: E402
from blender_addon.core.rotations import quat_to_matrix  # noqa: E402
from blender_addon.export.exporter import export_scene  # noqa: E402

TOLERANCE_M = 1e-3  # 1 mm; keeping only the top 4 of 6 weights moves vertices by centimetres here
_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_glb(path):
    """(glTF JSON, accessor reader) of a .glb file, parsed with numpy."""
    data = path.read_bytes()
    assert data[:4] == b"glTF"
    n, _ = struct.unpack_from("<I4s", data, 12)
    doc = json.loads(data[20:20 + n])
    m, _ = struct.unpack_from("<I4s", data, 20 + n)
    blob = data[28 + n:28 + n + m]

    def accessor(index: int) -> np.ndarray:
        acc = doc["accessors"][index]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype, width = np.dtype(_DTYPES[acc["componentType"]]), _WIDTH[acc["type"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        stride = view.get("byteStride", dtype.itemsize * width)
        rows = np.lib.stride_tricks.as_strided(np.frombuffer(blob, np.uint8, offset=start),
                                               (acc["count"], dtype.itemsize * width), (stride, 1))
        out = np.ascontiguousarray(rows).view(dtype).reshape(acc["count"], width).astype(np.float64)
        if acc.get("normalized"):
            out /= np.iinfo(dtype).max
        return out

    return doc, accessor


def _node_locals(doc, accessor, t: float) -> list[np.ndarray]:
    """Each node's local matrix (4, 4) at time ``t`` (seconds; a sampled key time) of the first animation."""
    trs = [{"translation": np.array(nd.get("translation", [0, 0, 0]), float),
            "rotation": np.array(nd.get("rotation", [0, 0, 0, 1]), float),
            "scale": np.array(nd.get("scale", [1, 1, 1]), float)} for nd in doc["nodes"]]
    anim = doc["animations"][0]
    for ch in anim["channels"]:
        sampler = anim["samplers"][ch["sampler"]]
        times = accessor(sampler["input"])[:, 0]
        k = int(np.argmin(np.abs(times - t)))
        assert abs(times[k] - t) < 1e-4
        trs[ch["target"]["node"]][ch["target"]["path"]] = accessor(sampler["output"])[k]
    mats = []
    for p in trs:
        m = np.eye(4)
        x, y, z, w = p["rotation"]
        m[:3, :3] = quat_to_matrix(np.array([w, x, y, z])) * p["scale"]
        m[:3, 3] = p["translation"]
        mats.append(m)
    return mats


def skin_glb(path, t: float) -> np.ndarray:
    """(V, 3) skinned vertices of the file's one skinned mesh at time ``t``, glTF world (Y up), with every
    JOINTS_n / WEIGHTS_n set."""
    doc, accessor = read_glb(path)
    local = _node_locals(doc, accessor, t)
    parent = {c: i for i, nd in enumerate(doc["nodes"]) for c in nd.get("children", [])}

    def world(i: int) -> np.ndarray:
        return world(parent[i]) @ local[i] if i in parent else local[i]

    mesh_node = next(nd for nd in doc["nodes"] if "skin" in nd)
    skin = doc["skins"][mesh_node["skin"]]
    ibm = accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    joint_mats = np.stack([world(j) @ ibm[k] for k, j in enumerate(skin["joints"])])
    prim = doc["meshes"][mesh_node["mesh"]]["primitives"][0]
    pos = accessor(prim["attributes"]["POSITION"])
    sets = sorted(k[7:] for k in prim["attributes"] if k.startswith("JOINTS_"))
    out = np.zeros_like(pos)
    total = np.zeros(len(pos))
    homo = np.concatenate([pos, np.ones((len(pos), 1))], 1)
    for s in sets:
        joints = accessor(prim["attributes"][f"JOINTS_{s}"]).astype(int)
        weights = accessor(prim["attributes"][f"WEIGHTS_{s}"])
        for c in range(4):
            out += weights[:, c, None] * np.einsum("vab,vb->va", joint_mats[joints[:, c]], homo)[:, :3]
            total += weights[:, c]
    np.testing.assert_allclose(total, 1.0, atol=2e-3)  # weights of all sets sum to one
    return out, len(sets), prim


def test_glb_keeps_all_skin_influences(empty_scene, toy_rig, tmp_path):
    rng = np.random.default_rng(3)
    V, J = toy_rig.skin_weights.shape
    w = rng.uniform(0.05, 1.0, (V, J)) * (rng.random((V, J)) < 0.6)  # ~6 influences per vertex
    w[:, 0] += 0.05
    rig = dataclasses.replace(toy_rig, skin_weights=(w / w.sum(1, keepdims=True)).astype(np.float32))
    motion = make_motion(rig.joint_names, frames=8, scale=1.0)
    res = build_motion(rig, motion, name="Skin", shape_keys=False, expressions=False, correctives=False)
    influences = (rig.skin_weights > 1e-6).sum(1)
    assert (influences > 4).mean() > 0.5
    path = export_scene([res.armature], tmp_path / "skin.glb", "glb_generic")
    frame = res.frame_start + 5
    t = frame / motion.fps  # Blender's glTF exporter writes scene frame f at time f / fps
    empty_scene.frame_set(frame)
    mesh_ob = bpy.data.objects[res.mesh]
    W = np.array(mesh_ob.matrix_world)
    blender_world = evaluated_local_verts(mesh_ob) @ W[:3, :3].T + W[:3, 3]
    expected = blender_world[:, [0, 2, 1]] * [1, 1, -1]  # Blender Z-up -> glTF Y-up: (x, z, -y)
    skinned, sets, prim = skin_glb(path, t)
    assert sets >= 2  # more than one JOINTS_n/WEIGHTS_n set
    # the exporter may split vertices (normals/UVs): match by rest position
    doc, accessor = read_glb(path)
    rest = accessor(prim["attributes"]["POSITION"])
    # the mesh's own coordinates (model Y-up: the armature's +90 deg X and glTF's Y-up conversion cancel)
    me_rest = np.array([v.co[:] for v in mesh_ob.data.vertices])
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(me_rest).query(rest)
    assert dist.max() < 1e-5
    err = np.linalg.norm(skinned - expected[idx], axis=1)
    assert err.max() < TOLERANCE_M, f"max {err.max() * 1000:.2f} mm"
    # the same check on a top-4 export (Blender's default) fails: the test can tell the difference
    preset = get_preset("glb_generic")
    top4 = dataclasses.replace(preset, options=tuple((k, False if k == "export_all_influences" else v)
                                                     for k, v in preset.options))
    skinned4, sets4, _ = skin_glb(export_scene([res.armature], tmp_path / "top4.glb", top4), t)
    assert sets4 == 1 and np.linalg.norm(skinned4 - expected[idx], axis=1).max() > 5 * TOLERANCE_M
