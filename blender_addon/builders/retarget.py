"""Retarget a built body's animation onto another armature (Rigify, Mixamo, UE5 Mannequin, any humanoid).

The maths is bpy-free (:mod:`..core.retarget`); here we read both skeletons' rest poses and the source's evaluated
animation from Blender, and write the result as one new action on the target with bulk keyframes (``foreach_set``).
The target's existing action stays in the file; on any error the new action is removed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ..core import bone_maps
from ..core.retarget import RetargetOptions, RetargetResult, Skeleton, retarget
from ..core.rotations import quat_continuity
from .common import PROP_PREFIX, Created, add_curves, new_action

# Rigify's generated rig: the limbs' IK/FK switch lives on these bones; retargeted keys drive the FK controls.
_RIGIFY_SWITCHES = ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R")


@dataclasses.dataclass(frozen=True)
class RetargetReport:
    action: str
    frames: int
    scale: float
    bone_map: str
    driven: tuple[str, ...]
    unmapped: tuple[str, ...]
    missing_roles: tuple[str, ...]
    text: str


def armature_skeleton(ob: bpy.types.Object) -> Skeleton:
    """Rest pose of an armature object in world space (object transform applied, scale taken out of rotations)."""
    bones = ob.data.bones
    names = tuple(b.name for b in bones)
    index = {n: i for i, n in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones])
    M = np.array(ob.matrix_world)
    local = np.empty(len(bones) * 16, np.float32)
    bones.foreach_get("matrix_local", local)
    local = local.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)  # foreach_get gives column-major
    world = M[None] @ local
    unit = float(np.cbrt(abs(np.linalg.det(M[:3, :3]))))
    rot = world[:, :3, :3] / np.linalg.norm(world[:, :3, :3], axis=1, keepdims=True)
    tails = np.array([b.tail_local for b in bones], np.float64)
    tails = tails @ M[:3, :3].T + M[:3, 3]
    return Skeleton(names=names, parents=parents, heads=world[:, :3, 3], tails=tails, rest_rot=rot, unit=unit)


def evaluated_animation(ob: bpy.types.Object, frames: range) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (F, J, 3, 3) and heads (F, J, 3) of every pose bone at each scene frame in ``frames``."""
    scene = bpy.context.scene
    keep = scene.frame_current
    J = len(ob.pose.bones)
    out = np.empty((len(frames), J, 4, 4))
    buf = np.empty(J * 16, np.float32)
    try:
        for k, f in enumerate(frames):
            scene.frame_set(f)
            ob.pose.bones.foreach_get("matrix", buf)
            out[k] = np.array(ob.matrix_world)[None] @ buf.reshape(J, 4, 4).transpose(0, 2, 1)
    finally:
        scene.frame_set(keep)
    rot = out[..., :3, :3] / np.linalg.norm(out[..., :3, :3], axis=-2, keepdims=True)
    return rot, out[..., :3, 3]


def source_bone_map(ob: bpy.types.Object) -> bone_maps.BoneMap:
    """The shipped source map for a built body (its model is recorded on the armature)."""
    model = str(ob.get(PROP_PREFIX + "model", "anny"))
    return bone_maps.source_map(model, [b.name for b in ob.data.bones])


def bake(target: bpy.types.Object, skel: Skeleton, result: RetargetResult, driven: set[str], hips: str,
         frame_start: int, created: Created) -> str:
    """Key the result on ``target`` in bulk: every driven bone (and the bones between them) gets quaternion
    keys, the hips bone location keys, the object location keys for root motion ``object``."""
    F = result.quats.shape[0]
    frames = frame_start + np.arange(F, dtype=np.float64)
    for pb in target.pose.bones:  # unkeyed bones rest, so they follow their parents as the maths assumed
        pb.matrix_basis.identity()
    action, fcurves = new_action(target, f"{target.name}Retarget", created)
    moving = np.abs(result.quats[..., 1:]).max(axis=0).max(axis=-1) > 1e-6
    for j, name in enumerate(skel.names):
        if not (moving[j] or name in driven):
            continue
        pb = target.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        base = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        add_curves(fcurves, f"{base}.rotation_quaternion", frames, result.quats[:, j], name)
        if name == hips:
            add_curves(fcurves, f"{base}.location", frames, result.hips_location, name)
    if result.object_offset is not None:
        parent_inv = np.eye(3)
        if target.parent is not None:
            parent_inv = np.linalg.inv(np.array(target.parent.matrix_world)[:3, :3])
        start = np.array(target.location)
        add_curves(fcurves, "location", frames, start + result.object_offset @ parent_inv.T, "Object")
    set_rigify_fk(target)
    return action.name


def set_rigify_fk(target: bpy.types.Object) -> None:
    """Rigify's generated rig: switch the limbs to FK, the controls the retarget keys."""
    for sw in _RIGIFY_SWITCHES:
        pb = target.pose.bones.get(sw)
        if pb is not None and "IK_FK" in pb:
            pb["IK_FK"] = 1.0


def has_constraints(ob: bpy.types.Object) -> bool:
    """A control rig (Rigify's generated rig...): pose bones driven by constraints, so a bone's parent pose is not
    its rest-relative chain and the keys must be solved against Blender's own evaluation (:func:`visual_channels`)."""
    return any(len(pb.constraints) for pb in ob.pose.bones)


def visual_channels(target: bpy.types.Object, result: RetargetResult, driven: list[str], hips: str,
                    frame_start: int) -> RetargetResult:
    """Pose channels solved frame by frame against Blender's evaluation: each driven bone, parents first, gets
    ``PoseBone.matrix`` set to its retargeted world rotation (at its evaluated head; the hips at the retargeted
    head) and its basis read back. For rigs with constraints; slower than the closed form (one depsgraph update
    per hierarchy level and frame)."""
    skel_names = [b.name for b in target.data.bones]
    index = {n: i for i, n in enumerate(skel_names)}
    depth = {n: len(target.data.bones[n].parent_recursive) for n in driven}
    levels = [sorted(n for n in driven if depth[n] == d) for d in sorted(set(depth.values()))]
    inv = np.linalg.inv(np.array(target.matrix_world))
    quats, loc = result.quats.copy(), result.hips_location.copy()
    scene, layer = bpy.context.scene, bpy.context.view_layer
    bones = target.pose.bones
    for f in range(result.quats.shape[0]):
        scene.frame_set(frame_start + f)  # constraints, drivers and the rig's own properties at this frame
        for pb in bones:
            pb.matrix_basis.identity()
        for level in levels:
            for name in level:
                j = index[name]
                pb = bones[name]
                M = np.eye(4)
                M[:3, :3] = result.world_rot[f, j]
                M[:3, 3] = result.heads[f, j] if name == hips else np.array(target.matrix_world @ pb.head)
                pb.rotation_mode = "QUATERNION"
                pb.matrix = Matrix((inv @ M).tolist())
            layer.update()
        for name in driven:
            pb = bones[name]
            quats[f, index[name]] = np.array(pb.rotation_quaternion)
            if name == hips:
                loc[f] = np.array(pb.location)
    return dataclasses.replace(result, quats=quat_continuity(quats, axis=0), hips_location=loc)


def retarget_armature(source: str, target: str, bone_map: str | Path | None = None,
                      options: RetargetOptions = RetargetOptions(), contacts: np.ndarray | None = None,
                      fingers: bool = True, frame_range: tuple[int, int] | None = None) -> RetargetReport:
    """Retarget the animation of armature ``source`` (a built body) onto armature ``target`` (object names).

    bone_map: a JSON map file (roles or source -> target pairs) or None to detect/guess one. contacts: (F, 2)
    foot contacts for the frames (the motion file's ``foot_contact``), or None to derive them from heights.
    frame_range: scene frames (first, last), default the scene's. Raises BoneMapError / RetargetError / ValueError.
    """
    src_ob, tgt_ob = bpy.data.objects.get(source), bpy.data.objects.get(target)
    for ob, what in ((src_ob, source), (tgt_ob, target)):
        if ob is None or ob.type != "ARMATURE":
            raise ValueError(f"{what!r} is not an armature object")
    user_map = bone_maps.load_map_file(bone_map) if bone_map else None
    src_skel, tgt_skel = armature_skeleton(src_ob), armature_skeleton(tgt_ob)
    pairing = bone_maps.pair_bones(source_bone_map(src_ob), tgt_skel.names, tgt_skel.parents, user_map,
                                   fingers=fingers, source_names=src_skel.names)
    scene = bpy.context.scene
    first, last = frame_range or (scene.frame_start, scene.frame_end)
    rot, heads = evaluated_animation(src_ob, range(first, last + 1))
    if contacts is not None and len(contacts) != len(rot):
        contacts = None  # another frame range than the motion's: fall back to heights
    result = retarget(src_skel, tgt_skel, pairing.pairs, rot, heads, options, contacts)
    hips = next(t for r, _, t in pairing.pairs if r == "hips")
    driven = [t for _, _, t in pairing.pairs]
    if has_constraints(tgt_ob):
        set_rigify_fk(tgt_ob)
        if tgt_ob.animation_data is not None:
            tgt_ob.animation_data.action = None  # solve against the rest pose, not an older animation
        result = visual_channels(tgt_ob, result, driven, hips, first)
    created = Created()
    try:
        action = bake(tgt_ob, tgt_skel, result, {t for _, _, t in pairing.pairs}, hips, first, created)
    except BaseException:
        created.remove_all()
        raise
    return RetargetReport(action=action, frames=len(rot), scale=result.scale, bone_map=pairing.target_map,
                          driven=tuple(t for _, _, t in pairing.pairs), unmapped=pairing.unmapped_target,
                          missing_roles=pairing.missing_roles, text=pairing.report())


def load_target_rig(path: str | Path) -> str:
    """Bring a target character into the current scene from ``.fbx`` or ``.blend``; returns its armature's name
    (the one with the most bones). Raises ValueError naming the file when it has no armature."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; pass a .fbx or .blend with the target character")
    before = set(bpy.data.objects)
    suffix = path.suffix.lower()
    if suffix == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(path), automatic_bone_orientation=False)
    elif suffix == ".blend":
        with bpy.data.libraries.load(str(path), link=False) as (data_from, data_to):
            data_to.objects = list(data_from.objects)
        for ob in data_to.objects:
            if ob is not None:
                bpy.context.scene.collection.objects.link(ob)
    else:
        raise ValueError(f"{path}: unsupported target {suffix!r}; use a .fbx or .blend file")
    arms = [ob for ob in set(bpy.data.objects) - before if ob.type == "ARMATURE"]
    if not arms:
        raise ValueError(f"{path}: contains no armature; export the character with its skeleton")
    return max(arms, key=lambda ob: len(ob.data.bones)).name
