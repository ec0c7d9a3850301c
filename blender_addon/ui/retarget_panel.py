"""Sidebar panel *Retarget*: put the body's motion on a Rigify / Mixamo / UE5 / any humanoid armature."""

from __future__ import annotations

import bpy

from ..operators.retarget import selected_target
from ..operators.targets import body_armature


class SMPLPIX_PT_retarget(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPLpix"
    bl_label = "Retarget"
    bl_idname = "SMPLPIX_PT_retarget"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        source = body_armature(context)
        target = selected_target(context, source) if source else None
        col = layout.column(align=True)
        col.label(text=f"Source: {source.name if source else '(make a body active)'}", icon="ARMATURE_DATA")
        col.label(text=f"Target: {target.name if target else '(select one more armature)'}", icon="OUTLINER_OB_ARMATURE")
        layout.operator("smplpix.retarget", icon="CON_ARMATURE")
        layout.label(text="Options: Adjust Last Operation (F9)", icon="INFO")


CLASSES = (SMPLPIX_PT_retarget,)
