"""Shared helpers for the builders: axis conversion, bulk F-Curves on slotted actions, cleanup of created IDs."""

from __future__ import annotations

import bpy
import numpy as np

# Model world -> Blender world (Z up). "Y": SMPL family (+90 deg about X); "Z": Anny / AMASS;
# "opencv": camera axes (x right, y down, z forward), e.g. SMPLify-X results (-90 deg about X).
_WORLD = {
    "Y": np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64),
    "Z": np.eye(3),
    "opencv": np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float64),
}
_INTERP = {name: i for i, name in enumerate(bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items.keys())}
PROP_PREFIX = "smplpix_"  # custom properties written on built objects


def world_rotation(axes: str) -> np.ndarray:
    """(3, 3) rotation taking the model/motion world (``"Y"``, ``"Z"`` up or ``"opencv"``) to Blender's Z-up."""
    if axes not in _WORLD:
        raise ValueError(f"unknown world axes {axes!r}; expected one of {sorted(_WORLD)}")
    return _WORLD[axes].copy()


def world_matrix(axes: str) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = world_rotation(axes)
    return m


class Created:
    """Records IDs made during a build so a failure can remove them all (no half-built scene)."""

    def __init__(self) -> None:
        self.ids: list[bpy.types.ID] = []

    def add(self, id_data):
        self.ids.append(id_data)
        return id_data

    def remove_all(self) -> None:
        collections = {
            bpy.types.Object: bpy.data.objects, bpy.types.Mesh: bpy.data.meshes,
            bpy.types.Armature: bpy.data.armatures, bpy.types.Action: bpy.data.actions,
            bpy.types.Camera: bpy.data.cameras, bpy.types.MovieClip: bpy.data.movieclips,
            bpy.types.Image: bpy.data.images,
        }
        for id_data in reversed(self.ids):
            try:
                for typ, coll in collections.items():
                    if isinstance(id_data, typ):
                        coll.remove(id_data)
                        break
            except ReferenceError:  # already freed with its owner
                pass
        self.ids.clear()


def new_action(id_data: bpy.types.ID, name: str, created: Created | None = None):
    """Assign a new action to ``id_data`` and return (action, fcurve collection).

    Blender >= 4.4 uses slotted (layered) actions: a slot for the ID and a channelbag holding the F-Curves.
    """
    action = bpy.data.actions.new(name)
    if created is not None:
        created.add(action)
    adt = id_data.animation_data or id_data.animation_data_create()
    if hasattr(action, "slots"):
        from bpy_extras import anim_utils

        slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
        adt.action = action
        adt.action_slot = slot
        if hasattr(anim_utils, "action_ensure_channelbag_for_slot"):
            return action, anim_utils.action_ensure_channelbag_for_slot(action, slot).fcurves
        layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        return action, strip.channelbag(slot, ensure=True).fcurves
    adt.action = action
    return action, action.fcurves


def assigned_fcurves(id_data: bpy.types.ID):
    """The F-Curves animating ``id_data`` through its assigned action (and slot), or None."""
    adt = id_data.animation_data
    if adt is None or adt.action is None:
        return None
    if hasattr(adt, "action_slot"):
        from bpy_extras import anim_utils

        if hasattr(anim_utils, "animdata_get_channelbag_for_assigned_slot"):
            bag = anim_utils.animdata_get_channelbag_for_assigned_slot(adt)
        else:  # Blender 4.4
            bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
        return None if bag is None else bag.fcurves
    return adt.action.fcurves


def add_curves(fcurves, data_path: str, frames: np.ndarray, values: np.ndarray, group: str = "",
               interpolation: str | None = None) -> None:
    """One F-Curve per column of ``values`` (N, C) keyed at ``frames`` (N,), in bulk (no keyframe_insert).

    interpolation: None keeps Blender's default for new keys (the user's preference, Bezier by default; every
    curve passes exactly through its keys); "LINEAR", "CONSTANT", ... are set per key (slower)."""
    values = np.asarray(values, np.float32).reshape(len(frames), -1)
    n = len(frames)
    co = np.empty((n, 2), np.float32)
    co[:, 0] = frames
    interp = None if interpolation is None else np.full(n, _INTERP[interpolation], np.int32)
    params = fcurves.bl_rna.functions["new"].parameters
    group_kw = "group_name" if "group_name" in params else "action_group"  # channelbag (>= 4.4) vs legacy action
    for index in range(values.shape[1]):
        fc = fcurves.new(data_path, index=index, **({group_kw: group} if group else {}))
        co[:, 1] = values[:, index]
        fc.keyframe_points.add(n)
        fc.keyframe_points.foreach_set("co", co.ravel())
        if interp is not None:
            fc.keyframe_points.foreach_set("interpolation", interp)
        fc.update()


def mute_shape_keys(ob: bpy.types.Object, names: list[str], muted: bool) -> int:
    """Mute (or unmute) the shape keys ``names`` of mesh object ``ob`` in one ``foreach_set``; the others keep
    their mute flag. Returns how many keys were asked for (0 without shape keys)."""
    key = ob.data.shape_keys
    if key is None or not names:
        return 0
    blocks = key.key_blocks
    wanted = set(names)
    flags = np.array([(kb.name in wanted and muted) or (kb.name not in wanted and kb.mute) for kb in blocks], bool)
    blocks.foreach_set("mute", flags)
    ob.data.update()
    return len(names)


def set_scene_fps(scene: bpy.types.Scene, fps: float) -> None:
    """Set scene.render.fps/fps_base so that fps / fps_base == ``fps`` (29.97 -> 30 / 1.001)."""
    whole = max(1, int(round(fps)))
    scene.render.fps = whole
    scene.render.fps_base = whole / float(fps)


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base
