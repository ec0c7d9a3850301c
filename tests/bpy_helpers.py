"""Helpers for tests that run the real Blender (PyPI bpy): evaluated mesh vertices."""

from __future__ import annotations

import numpy as np


def evaluated_local_verts(mesh_ob) -> np.ndarray:
    """(V, 3) vertices of the evaluated (deformed) mesh in the object's own coordinates."""
    import bpy

    ev = mesh_ob.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = ev.to_mesh()
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    return co.reshape(-1, 3).astype(np.float64)


def evaluated_world_verts(mesh_ob) -> np.ndarray:
    """(V, 3) vertices of the evaluated mesh in world coordinates."""
    M = np.array(mesh_ob.matrix_world)
    return evaluated_local_verts(mesh_ob) @ M[:3, :3].T + M[:3, 3]
