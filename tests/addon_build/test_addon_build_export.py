"""FBX / glTF export with the real bpy module, re-imported (Blender's importers, a JSON parse of the GLB, trimesh)
to check that joint world positions, animation and shape-key names survive."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from addon_build_helpers import make_motion, world_heads

bpy = pytest.importorskip("bpy")

from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.export.exporter import export_scene  # noqa: E402
from blender_addon.core.export_presets import PRESETS, get_preset, preset_items  # noqa: E402

FRAMES = (1, 4, 8)


def _build_and_sample(toy_rig, scene):
    motion = make_motion(toy_rig.joint_names, frames=8, expr_dim=3, scale=0.9)
    res = build_motion(toy_rig, motion)
    arm = bpy.data.objects[res.armature]
    heads = {}
    for f in FRAMES:
        scene.frame_set(f)
        heads[f] = world_heads(arm, toy_rig.joint_names)
    keys = [kb.name for kb in bpy.data.objects[res.mesh].data.shape_keys.key_blocks][1:]
    return res, heads, keys


def _key_values(frame):
    """Values of every shape key of the (only) mesh at ``frame``."""
    bpy.context.scene.frame_set(frame)
    mesh = next(o for o in bpy.data.objects if o.type == "MESH")
    return np.array([kb.value for kb in mesh.data.shape_keys.key_blocks[1:]])


def _reimported_heads(scene, names):
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    out = {}
    for f in FRAMES:
        scene.frame_set(f)
        out[f] = world_heads(arm, names)
    return out


def _imported_shape_keys():
    mesh = next(o for o in bpy.data.objects if o.type == "MESH")
    return [kb.name for kb in mesh.data.shape_keys.key_blocks][1:] if mesh.data.shape_keys else []


def _fbx_unit_scale(path) -> float:
    """UnitScaleFactor of a binary FBX (centimetres per file unit): the double after its property header."""
    data = path.read_bytes()
    i = data.index(b"UnitScaleFactor")
    j = data.index(b"Number", i) + len(b"Number")
    j = data.index(b"D", j)
    return struct.unpack_from("<d", data, j + 1)[0]


@pytest.mark.parametrize("preset, unit_cm", [("fbx_generic", 1.0), ("fbx_unity", 100.0), ("fbx_unreal", 1.0)])
def test_fbx_round_trip(empty_scene, toy_rig, tmp_path, preset, unit_cm):
    res, heads, keys = _build_and_sample(toy_rig, empty_scene)
    values = _key_values(4)
    path = export_scene([res.armature], tmp_path / "body.fbx", preset)
    assert path.is_file() and not list(tmp_path.glob("*.part*"))
    # Unreal wants centimetres with unit scale 1; Unity's "FBX All" keeps metres with unit scale 100
    assert _fbx_unit_scale(path) == unit_cm
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)  # Blender's importer shifts by 1 by default
    back = _reimported_heads(scene, toy_rig.joint_names)
    for f in FRAMES:
        np.testing.assert_allclose(back[f], heads[f], atol=1e-3, err_msg=f"frame {f}")
    assert _imported_shape_keys() == keys
    np.testing.assert_allclose(_key_values(4), values, atol=1e-3)  # expression/corrective animation came along


def test_fbx_without_shape_keys(empty_scene, toy_rig, tmp_path):
    res, _, _ = _build_and_sample(toy_rig, empty_scene)
    n_meshes = len(bpy.data.meshes)
    path = export_scene([res.armature], tmp_path / "plain.fbx", "fbx_generic", shape_keys=False)
    # the scene is untouched: the mesh keeps its keys and the temporary key-less copy is gone
    assert bpy.data.objects[res.mesh].data.shape_keys is not None and len(bpy.data.meshes) == n_meshes
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path))
    assert _imported_shape_keys() == []


def _glb_json(path):
    data = path.read_bytes()
    magic, _, _ = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF"
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    return json.loads(data[20:20 + length])


def _glb_morph_weights(path, doc) -> np.ndarray:
    """(frames, targets) morph-target weights of the GLB's single animation, read from its binary chunk."""
    data = path.read_bytes()
    start = 20 + struct.unpack_from("<I", data, 12)[0]
    blob = data[start + 8:]

    def accessor(i):
        a = doc["accessors"][i]
        view = doc["bufferViews"][a["bufferView"]]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[a["type"]]
        offset = view.get("byteOffset", 0) + a.get("byteOffset", 0)
        return np.frombuffer(blob, np.float32, a["count"] * width, offset)

    (anim,) = doc["animations"]
    (channel,) = [c for c in anim["channels"] if c["target"]["path"] == "weights"]
    sampler = anim["samplers"][channel["sampler"]]
    times = accessor(sampler["input"])
    return accessor(sampler["output"]).reshape(len(times), -1)


def test_glb_round_trip(empty_scene, toy_rig, tmp_path):
    res, heads, keys = _build_and_sample(toy_rig, empty_scene)
    values = _key_values(4)
    path = export_scene([res.armature], tmp_path / "body.glb", "glb_generic")
    doc = _glb_json(path)
    node_names = {n.get("name") for n in doc["nodes"]}
    assert set(toy_rig.joint_names) <= node_names
    assert len(doc["skins"]) == 1 and len(doc["skins"][0]["joints"]) == toy_rig.num_joints
    assert doc["meshes"][0]["extras"]["targetNames"] == keys
    assert doc["animations"], "animation was not exported"
    paths = {c["target"]["path"] for a in doc["animations"] for c in a["channels"]}
    assert {"rotation", "translation", "weights"} <= paths
    # one clip holds skeleton and morph animation; frame 4 is the 4th sample
    np.testing.assert_allclose(_glb_morph_weights(path, doc)[3], values, atol=1e-6)
    trimesh = pytest.importorskip("trimesh")
    loaded = trimesh.load(path)
    assert sum(len(g.vertices) for g in loaded.geometry.values()) >= toy_rig.num_vertices
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    bpy.ops.import_scene.gltf(filepath=str(path))
    back = _reimported_heads(scene, toy_rig.joint_names)
    for f in FRAMES:
        np.testing.assert_allclose(back[f], heads[f], atol=1e-3, err_msg=f"frame {f}")
    # (Blender's glTF importer clamps morph weights to slider ranges it guesses, so values are checked in the file)
    assert _imported_shape_keys() == keys


def test_presets_table_and_errors(empty_scene, toy_rig, tmp_path):
    assert {p.format for p in PRESETS.values()} == {"FBX", "GLB", "GLTF"}
    assert dict(get_preset("fbx_unreal").options)["apply_scale_options"] == "FBX_SCALE_NONE"
    assert len(preset_items()) == len(PRESETS)
    with pytest.raises(ValueError, match="unknown export preset"):
        get_preset("fbx_maya")
    res, _, _ = _build_and_sample(toy_rig, empty_scene)
    with pytest.raises(ValueError, match=r"\.glb"):
        export_scene([res.armature], tmp_path / "body.fbx", "glb_generic")
    path = export_scene([res.armature], tmp_path / "sep.gltf", "gltf_generic")
    doc = json.loads(path.read_text())
    assert doc["buffers"][0]["uri"] == "sep.bin" and (tmp_path / "sep.bin").is_file()
