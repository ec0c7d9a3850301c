"""Rest-pose builds with the real bpy module: bones, skin weights, UVs, shape keys, axes, cleanup on error."""

from __future__ import annotations


import numpy as np
import pytest
from addon_build_helpers import evaluated_local_verts, make_toy_rig, world_heads

bpy = pytest.importorskip("bpy")

from blender_addon.builders.armature import bone_rest_orient  # noqa: E402
from blender_addon import body_record  # noqa: E402
from blender_addon.builders.common import world_rotation  # noqa: E402
from blender_addon.builders.scene import build_body  # noqa: E402


def test_bones_match_rigspec(empty_scene, toy_rig):
    betas = np.array([1.0, -2.0, 0.5, 0.0])
    res = build_body(toy_rig, name="Toy", betas=betas)
    arm = bpy.data.objects[res.armature]
    assert [b.name for b in arm.data.bones] and {b.name for b in arm.data.bones} == set(toy_rig.joint_names)
    for j, name in enumerate(toy_rig.joint_names):
        parent = arm.data.bones[name].parent
        p = toy_rig.parents[j]
        assert (parent.name if parent else None) == (toy_rig.joint_names[p] if p >= 0 else None)
    np.testing.assert_allclose(bone_rest_orient(arm, toy_rig.joint_names), toy_rig.rest_orient, atol=1e-5)
    _, joints = toy_rig.rest_state(betas)
    bpy.context.view_layer.update()
    np.testing.assert_allclose(world_heads(arm, toy_rig.joint_names), joints @ world_rotation("Y").T, atol=1e-5)
    # the toy rig's joints really moved with shape, so the check above is about the shaped rest
    assert np.abs(joints - toy_rig.rest_joints).max() > 1e-3


def test_mesh_weights_uvs_and_shape_keys(empty_scene, toy_rig):
    betas = np.array([0.3, -0.7])
    res = build_body(toy_rig, name="Toy", betas=betas)
    ob = bpy.data.objects[res.mesh]
    me = ob.data
    assert ob.parent.name == res.armature and ob.modifiers["Armature"].object.name == res.armature
    V, J = toy_rig.skin_weights.shape
    dense = np.zeros((V, J))
    group_joint = {g.index: toy_rig.joint_names.index(g.name) for g in ob.vertex_groups}
    for v in me.vertices:
        for g in v.groups:
            dense[v.index, group_joint[g.group]] = g.weight
    np.testing.assert_allclose(dense, toy_rig.skin_weights, atol=1e-6)
    faces = np.empty(len(me.polygons) * 3, np.int32)
    me.polygons.foreach_get("vertices", faces)
    np.testing.assert_array_equal(faces.reshape(-1, 3), toy_rig.faces)
    uv = np.empty(len(me.loops) * 2, np.float32)
    me.uv_layers["UVMap"].data.foreach_get("uv", uv)
    np.testing.assert_allclose(uv.reshape(-1, 3, 2), toy_rig.uvs, atol=1e-6)
    blocks = me.shape_keys.key_blocks
    names = [kb.name for kb in blocks]
    assert names == ["Basis", *toy_rig.shape_names, *toy_rig.expr_names, *toy_rig.pose_names]
    for k, name in enumerate(toy_rig.shape_names):
        kb = blocks[name]
        assert kb.slider_min <= toy_rig.shape_range[k, 0] and kb.slider_max >= toy_rig.shape_range[k, 1]
        co = np.empty(V * 3, np.float32)
        kb.data.foreach_get("co", co)
        np.testing.assert_allclose(co.reshape(V, 3), toy_rig.template + toy_rig.shape_dirs[k], atol=1e-6)
    np.testing.assert_allclose([blocks[n].value for n in toy_rig.shape_names[:2]], betas, atol=1e-6)
    assert body_record.shape_key_names(ob, "expression") == list(toy_rig.expr_names)
    # keys other than the given betas rest at 0: the evaluated rest mesh is the shaped template
    np.testing.assert_allclose(evaluated_local_verts(ob), toy_rig.rest_state(betas)[0], atol=1e-5)


def test_options_skip_shape_keys_and_bake_shape(empty_scene, toy_rig):
    betas = np.array([2.0, 1.0, -1.0, 0.5])
    res = build_body(toy_rig, betas=betas, shape_keys=False, expressions=False, correctives=False)
    me = bpy.data.objects[res.mesh].data
    assert me.shape_keys is None
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    np.testing.assert_allclose(co.reshape(-1, 3), toy_rig.rest_state(betas)[0], atol=1e-6)


def test_z_up_rig_is_not_rotated(empty_scene):
    rig = make_toy_rig(up_axis="Z", verts_per_bone=4)
    arm = bpy.data.objects[build_body(rig).armature]
    np.testing.assert_allclose(np.array(arm.matrix_world), np.eye(4), atol=1e-7)
    y_up = bpy.data.objects[build_body(make_toy_rig(verts_per_bone=4), name="Y").armature]
    # +90 degrees about X: model +Y (up) becomes Blender +Z
    np.testing.assert_allclose(np.array(y_up.matrix_world)[:3, :3] @ [0, 1, 0], [0, 0, 1], atol=1e-7)


def test_bad_rig_file_names_the_file_and_builds_nothing(empty_scene, tmp_path):
    bad = tmp_path / "broken_rig.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken_rig.npz"):
        build_body(bad)
    assert len(bpy.data.objects) == 0 and len(bpy.data.armatures) == 0 and len(bpy.data.meshes) == 0


def test_builds_while_another_object_is_in_edit_mode(empty_scene):
    me = bpy.data.meshes.new("Other")
    me.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    other = bpy.data.objects.new("Other", me)
    empty_scene.collection.objects.link(other)
    bpy.context.view_layer.objects.active = other
    bpy.ops.object.mode_set(mode="EDIT")
    coll = bpy.data.collections.new("Bodies")
    empty_scene.collection.children.link(coll)
    res = build_body(make_toy_rig(verts_per_bone=4), name="Toy", collection="Bodies")
    assert bpy.context.mode == "OBJECT" and len(bpy.data.objects[res.armature].data.bones) == 10
    assert bpy.context.view_layer.objects.active == other
    assert {o.name for o in coll.objects} == {res.armature, res.mesh}


def test_unknown_collection_is_a_clear_error(empty_scene, toy_rig):
    with pytest.raises(ValueError, match="no collection named 'Nope'"):
        build_body(toy_rig, collection="Nope")
    assert len(bpy.data.objects) == 0
