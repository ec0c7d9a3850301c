"""Armature from a RigSpec: bone heads at the (shaped) rest joints, bone matrices equal to ``rest_orient``."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from ..core.rigspec import RigSpec
from .common import Created, world_matrix

MIN_BONE_LENGTH = 0.005  # metres; Blender drops zero-length bones


def build_armature(rig: RigSpec, name: str, rest_joints: np.ndarray, axes: str, collection: bpy.types.Collection,
                   created: Created) -> bpy.types.Object:
    """Create an armature object (linked to ``collection``: edit mode needs it) with one bone per joint.

    rest_joints: (J, 3) metres, the rest joints with shape applied (RigSpec.rest_state). Bone j has its head at
    rest_joints[j], its matrix (armature space) equal to rest_orient[j], and a length taken from bone_tails.
    axes: the world the motion lives in ("Y", "Z", "opencv"); the object is rotated so it stands Z-up.
    """
    if bpy.context.mode != "OBJECT" and bpy.context.object is not None:
        bpy.ops.object.mode_set(mode="OBJECT")  # leave another object's edit/pose mode before editing bones
    arm = created.add(bpy.data.armatures.new(name))
    ob = created.add(bpy.data.objects.new(name, arm))
    ob.matrix_world = Matrix(world_matrix(axes).tolist())
    collection.objects.link(ob)
    view_layer = bpy.context.view_layer
    prev_active = view_layer.objects.active
    view_layer.objects.active = ob
    lengths = np.maximum(np.linalg.norm(rig.bone_tails - rig.rest_joints, axis=1), MIN_BONE_LENGTH)
    with bpy.context.temp_override(active_object=ob, object=ob):
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            bones = []
            for j, jname in enumerate(rig.joint_names):
                eb = arm.edit_bones.new(jname)
                head = rest_joints[j]
                eb.head = head.tolist()
                eb.tail = (head + lengths[j] * rig.rest_orient[j][:, 1]).tolist()
                m = np.eye(4)
                m[:3, :3] = rig.rest_orient[j]
                m[:3, 3] = head
                eb.matrix = Matrix(m.tolist())
                eb.use_deform = True
                bones.append(eb)
            for j, p in enumerate(rig.parents):
                if p >= 0:
                    bones[j].parent = bones[int(p)]
                    bones[j].use_connect = False
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = prev_active
    for pb in ob.pose.bones:
        pb.rotation_mode = "QUATERNION"
    arm.display_type = "STICK"
    ob.show_in_front = True
    return ob


def bone_rest_orient(ob: bpy.types.Object, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """(J, 3, 3) rest rotations (armature space) of the bones ``names``, read back from Blender.

    Blender keeps bones in hierarchy order, not creation order, so bones are looked up by name."""
    bones = ob.data.bones
    m = np.empty(len(bones) * 16, np.float32)
    bones.foreach_get("matrix_local", m)
    m = m.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)  # foreach_get gives column-major
    order = {b.name: i for i, b in enumerate(bones)}
    u, _, vt = np.linalg.svd(m[[order[n] for n in names], :3, :3])
    return u @ vt  # nearest rotations (float32 storage leaves them ~1e-7 off orthonormal)
