"""Retarget to Selected Armature: the active body's animation -> another selected armature, baked in bulk."""

from __future__ import annotations

from pathlib import Path

import bpy

from .targets import body_armature

ROOT_ITEMS = (
    ("root_bone", "Root Bone", "The target's hips bone carries the travel"),
    ("in_place", "In Place", "No horizontal travel (height kept)"),
    ("object", "Object", "The target object carries the horizontal travel, the hips bone the height"),
)


def selected_target(context, source):
    """The other selected armature (not the body itself), or None."""
    others = [ob for ob in context.selected_objects if ob.type == "ARMATURE" and ob != source]
    return others[0] if len(others) == 1 else None


class SMPLPIX_OT_retarget(bpy.types.Operator):
    """Bake the active body's animation onto the other selected armature (Rigify, Mixamo, UE5 Mannequin, or any
    humanoid with a bone map)"""

    bl_idname = "smplpix.retarget"
    bl_label = "Retarget to Selected Armature"
    bl_options = {"REGISTER", "UNDO"}

    target: bpy.props.StringProperty(name="Target", description="Target armature (empty: the other selected one)")
    bone_map: bpy.props.StringProperty(name="Bone Map", subtype="FILE_PATH",
                                       description="Bone-map JSON (empty: detect Rigify/Mixamo/UE5 or guess)")
    motion_path: bpy.props.StringProperty(name="Motion", subtype="FILE_PATH",
                                          description="Motion file whose foot_contact flags lock the feet "
                                                      "(empty: contacts from foot heights)")
    root_motion: bpy.props.EnumProperty(name="Root Motion", items=ROOT_ITEMS, default="root_bone")
    foot_lock: bpy.props.BoolProperty(name="Lock Feet", default=True,
                                      description="Pin each foot while it is in contact (two-bone IK)")
    fingers: bpy.props.BoolProperty(name="Fingers", default=True, description="Retarget fingers when both have them")
    scale: bpy.props.FloatProperty(name="Scale", default=0.0, min=0.0,
                                   description="Target/source size ratio for the travel (0: from leg lengths)")

    @classmethod
    def poll(cls, context):
        source = body_armature(context)
        if source is None:
            cls.poll_message_set("Make a body built by SMPLpix the active object")
            return False
        if selected_target(context, source) is None:
            cls.poll_message_set("Also select exactly one target armature")
            return False
        return True

    def execute(self, context):
        from ..builders.retarget import retarget_armature
        from ..core.bone_maps import BoneMapError
        from ..core.motion import MotionError
        from ..core.readers import read_motion
        from ..core.retarget import RetargetError, RetargetOptions

        source = body_armature(context)
        target = bpy.data.objects.get(self.target) if self.target else selected_target(context, source)
        if target is None or target.type != "ARMATURE":
            self.report({"ERROR"}, "Select the target armature too (or name it in Target)")
            return {"CANCELLED"}
        try:
            contacts = None
            if self.motion_path:
                contacts = read_motion(Path(bpy.path.abspath(self.motion_path))).foot_contact
            options = RetargetOptions(root_motion=self.root_motion, foot_lock=self.foot_lock,
                                      scale=self.scale or None)
            report = retarget_armature(source.name, target.name, bpy.path.abspath(self.bone_map) or None,
                                       options, contacts, fingers=self.fingers)
        except (BoneMapError, RetargetError, MotionError, ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for line in report.text.splitlines()[1:]:
            self.report({"WARNING"}, line)
        self.report({"INFO"}, f"Retargeted {report.frames} frames onto {target.name} ({report.bone_map}, "
                              f"{len(report.driven)} bones, scale {report.scale:.2f}): action {report.action}")
        return {"FINISHED"}


CLASSES = (SMPLPIX_OT_retarget,)
