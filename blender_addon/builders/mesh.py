"""Skinned mesh from a RigSpec: bulk vertices/faces/UVs, one vertex group per joint, an Armature modifier."""

from __future__ import annotations

import bpy
import numpy as np

from ..core.rigspec import RigSpec
from .common import Created

WEIGHT_EPS = 1e-6  # skin weights below this are left out of the vertex groups


def build_mesh_data(name: str, verts: np.ndarray, faces: np.ndarray, uvs: np.ndarray | None,
                    created: Created) -> bpy.types.Mesh:
    """Mesh datablock from verts (V, 3) metres, triangles (F, 3) and optional per-corner uvs (F, 3, 2)."""
    me = created.add(bpy.data.meshes.new(name))
    V, F = len(verts), len(faces)
    me.vertices.add(V)
    me.vertices.foreach_set("co", np.asarray(verts, np.float32).ravel())
    me.loops.add(3 * F)
    me.loops.foreach_set("vertex_index", np.asarray(faces, np.int32).ravel())
    me.polygons.add(F)
    me.polygons.foreach_set("loop_start", np.arange(0, 3 * F, 3, dtype=np.int32))
    if uvs is not None:
        layer = me.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.asarray(uvs, np.float32).ravel())
    me.update()
    if hasattr(me, "shade_smooth"):
        me.shade_smooth()
    else:
        me.polygons.foreach_set("use_smooth", np.ones(F, bool))
    return me


def add_vertex_groups(ob: bpy.types.Object, joint_names: tuple[str, ...], weights: np.ndarray) -> None:
    """One vertex group per joint from dense weights (V, J); each group is filled with one ``add`` call per
    distinct weight value (vertices sharing a weight are added together)."""
    weights = np.asarray(weights, np.float32)
    for j, jname in enumerate(joint_names):
        vg = ob.vertex_groups.new(name=jname)
        col = weights[:, j]
        idx = np.flatnonzero(col > WEIGHT_EPS)
        if idx.size == 0:
            continue
        vals, inverse = np.unique(col[idx], return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(vals) + 1))
        sorted_idx = idx[order]
        for k, w in enumerate(vals.tolist()):
            vg.add(sorted_idx[bounds[k]:bounds[k + 1]].tolist(), w, "REPLACE")


def build_skinned_mesh(rig: RigSpec, name: str, verts: np.ndarray, armature: bpy.types.Object,
                       created: Created) -> bpy.types.Object:
    """Mesh object (not linked yet) parented to ``armature`` with vertex groups and an Armature modifier.

    verts: (V, 3) rest vertices in model axes (the mesh basis; shape keys add on top of it).
    """
    me = build_mesh_data(name, verts, rig.faces, rig.uvs, created)
    ob = created.add(bpy.data.objects.new(name, me))
    add_vertex_groups(ob, rig.joint_names, rig.skin_weights)
    ob.parent = armature
    mod = ob.modifiers.new("Armature", "ARMATURE")
    mod.object = armature
    mod.use_vertex_groups = True
    mod.use_deform_preserve_volume = False
    return ob
